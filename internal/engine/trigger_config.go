package engine

import (
	"fmt"
	"time"

	"github.com/slowspan/slowspan/alert"
)

// The trigger modes of TriggerConfig.Mode.
const (
	ModeSpan     = string(alert.ModeSpan)
	ModeQuantile = string(alert.ModeQuantile)
	ModeRatio    = string(alert.ModeRatio)
	// ModeRegression judges each new service.version of an endpoint
	// against the previous one; its incidents are of mode quantile.
	ModeRegression = "regression"
)

// Bounds of trigger.regression.
const (
	maxKeepVersions  = 16
	minVersionMaxAge = time.Minute
	maxVersionAttr   = 256
)

// Bounds of trigger.over: a window shorter than its sub-windows' clock
// tick, or longer than a day of sliding counts, is a mistake.
const (
	minOver = 10 * time.Second
	maxOver = 24 * time.Hour
	// subWindows cuts each window: it slides by over/10.
	subWindows = 10
	// defaultResolveAfter is resolve.after in quantile and ratio modes
	// when it is not set.
	defaultResolveAfter = 10 * time.Minute
)

// validate checks t; in a routes rule (override), zero fields inherit.
func (t *TriggerConfig) validate(field string, override bool) []error {
	var errs []error
	switch t.Mode {
	case ModeSpan, ModeQuantile, ModeRatio, ModeRegression:
	case "":
		if !override {
			errs = append(errs, fmt.Errorf("%s.mode: must be set (span, quantile, ratio or regression)", field))
		}
	default:
		errs = append(errs, fmt.Errorf("%s.mode: unknown mode %q, want span, quantile, ratio or regression", field, t.Mode))
	}
	// The regression fields are required in mode regression (a routes
	// rule's are checked merged with the global ones, in Config.Validate);
	// elsewhere only the values set are checked.
	errs = append(errs, t.Regression.validate(field+".regression", override || t.Mode != ModeRegression)...)
	if q := t.Quantile; (q != 0 || !override) && !(q > 0 && q < 1) {
		errs = append(errs, fmt.Errorf("%s.quantile: must be between 0 and 1 (exclusive), e.g. 0.95, got %v", field, q))
	}
	if r := t.Ratio; (r != 0 || !override) && !(r > 0 && r <= 1) {
		errs = append(errs, fmt.Errorf("%s.ratio: must be in (0, 1], e.g. 0.05 for 5 %%, got %v", field, r))
	}
	if o := t.Over; (o != 0 || !override) && (o < minOver || o > maxOver) {
		errs = append(errs, fmt.Errorf("%s.over: must be between %v and %v, got %v", field, minOver, maxOver, o))
	}
	if t.MinCount < 0 || (!override && t.MinCount < 1) {
		errs = append(errs, fmt.Errorf("%s.min_count: must be at least 1, got %d", field, t.MinCount))
	}
	return errs
}

func (r *RegressionConfig) validate(field string, override bool) []error {
	var errs []error
	if f := r.Factor; (f != 0 || !override) && !(f >= 1 && f <= 1000) {
		errs = append(errs, fmt.Errorf("%s.factor: must be between 1 and 1000, e.g. 1.5, got %v", field, f))
	}
	if r.MinDelta < 0 {
		errs = append(errs, fmt.Errorf("%s.min_delta: must be >= 0, e.g. 100ms, got %v", field, r.MinDelta))
	}
	if a := r.VersionAttribute; (a != "" || !override) && (a == "" || len(a) > maxVersionAttr) {
		errs = append(errs, fmt.Errorf("%s.version_attribute: must name a resource attribute (at most %d bytes), e.g. service.version", field, maxVersionAttr))
	}
	if k := r.KeepVersions; (k != 0 || !override) && (k < 2 || k > maxKeepVersions) {
		errs = append(errs, fmt.Errorf("%s.keep_versions: must be between 2 and %d, got %d", field, maxKeepVersions, k))
	}
	if a := r.MaxAge; (a != 0 || !override) && a < minVersionMaxAge {
		errs = append(errs, fmt.Errorf("%s.max_age: must be at least %v, got %v", field, minVersionMaxAge, a))
	}
	return errs
}

// mergeRegression is a routes rule's regression settings, the global ones
// filling what it leaves out.
func mergeRegression(g, r RegressionConfig) RegressionConfig {
	if r.Factor != 0 {
		g.Factor = r.Factor
	}
	if r.MinDelta != 0 {
		g.MinDelta = r.MinDelta
	}
	if r.VersionAttribute != "" {
		g.VersionAttribute = r.VersionAttribute
	}
	if r.KeepVersions != 0 {
		g.KeepVersions = r.KeepVersions
	}
	if r.MaxAge != 0 {
		g.MaxAge = r.MaxAge
	}
	return g
}

func (r *ResolveConfig) validate(field string) []error {
	if r.After != nil && *r.After < 0 {
		return []error{fmt.Errorf("%s.after: must be >= 0 (0: never), got %v", field, *r.After)}
	}
	return nil
}

// trigger is a resolved TriggerConfig: the global one, or a routes rule's
// with the global values filling what it leaves out.
type trigger struct {
	mode         alert.Mode
	quantile     float64
	ratio        float64
	over         time.Duration
	minCount     uint64
	resolveAfter time.Duration // 0: never
	// regression is set in mode regression (mode is then quantile: the
	// incidents it opens are quantile incidents).
	regression *regressionTrigger
}

// regressionTrigger is a resolved RegressionConfig.
type regressionTrigger struct {
	factor       float64
	minDelta     time.Duration
	attr         string
	keepVersions int
	maxAge       time.Duration
}

// windowed reports whether the trigger judges windows (quantile, ratio).
func (t *trigger) windowed() bool { return t.mode != alert.ModeSpan }

func resolveTrigger(global TriggerConfig, globalResolve ResolveConfig, rule *RouteRule) trigger {
	c := global
	after := globalResolve.After
	if rule != nil {
		o := rule.Trigger
		if o.Mode != "" {
			c.Mode = o.Mode
		}
		if o.Quantile != 0 {
			c.Quantile = o.Quantile
		}
		if o.Ratio != 0 {
			c.Ratio = o.Ratio
		}
		if o.Over != 0 {
			c.Over = o.Over
		}
		if o.MinCount != 0 {
			c.MinCount = o.MinCount
		}
		c.Regression = mergeRegression(c.Regression, o.Regression)
		if rule.Resolve.After != nil {
			after = rule.Resolve.After
		}
	}
	t := trigger{mode: alert.Mode(c.Mode), quantile: c.Quantile, ratio: c.Ratio, over: c.Over,
		minCount: uint64(max(c.MinCount, 1))}
	if c.Mode == ModeRegression {
		r := c.Regression
		t.mode = alert.ModeQuantile
		t.regression = &regressionTrigger{factor: r.Factor, minDelta: r.MinDelta, attr: r.VersionAttribute,
			keepVersions: max(r.KeepVersions, 2), maxAge: r.MaxAge}
	}
	switch {
	case after != nil:
		t.resolveAfter = *after
	case t.windowed():
		t.resolveAfter = defaultResolveAfter
	}
	return t
}
