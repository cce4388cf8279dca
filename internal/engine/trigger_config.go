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
	case ModeSpan, ModeQuantile, ModeRatio:
	case "":
		if !override {
			errs = append(errs, fmt.Errorf("%s.mode: must be set (span, quantile or ratio)", field))
		}
	default:
		errs = append(errs, fmt.Errorf("%s.mode: unknown mode %q, want span, quantile or ratio", field, t.Mode))
	}
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
		if rule.Resolve.After != nil {
			after = rule.Resolve.After
		}
	}
	t := trigger{mode: alert.Mode(c.Mode), quantile: c.Quantile, ratio: c.Ratio, over: c.Over,
		minCount: uint64(max(c.MinCount, 1))}
	switch {
	case after != nil:
		t.resolveAfter = *after
	case t.windowed():
		t.resolveAfter = defaultResolveAfter
	}
	return t
}
