package mattermostfake

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// OpenAPISubset is an excerpt of the official Mattermost OpenAPI spec (its
// header names the upstream files and commits), embedded so the fake works
// from any working directory.
//
//go:embed openapi-subset.yaml
var OpenAPISubset []byte

var loadSpec = sync.OnceValues(func() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPISubset)
	if err != nil {
		return nil, fmt.Errorf("mattermostfake: load embedded OpenAPI subset: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("mattermostfake: embedded OpenAPI subset is invalid: %w", err)
	}
	if err := patchPropsIsObject(doc); err != nil {
		return nil, err
	}
	return doc, nil
})

// Spec returns the parsed OpenAPI subset.
func Spec() (*openapi3.T, error) { return loadSpec() }

// specPaths are the templates of the subset; /hooks/{key} is not in the
// official spec (exporter/mattermostexporter/PROTOCOL.md section 7) and is not validated.
var specPaths = []string{
	"/api/v4/users/{user_id}",
	"/api/v4/channels/{channel_id}",
	"/api/v4/posts",
	"/api/v4/posts/{post_id}/patch",
	"/api/v4/files",
	"/api/v4/system/ping",
}

// findRoute matches a request path against the subset's templates. A
// hand-written matcher avoids the spec's servers ({scheme}://{host}) having
// to match the fake's loopback address.
func findRoute(method, path string) (*routers.Route, map[string]string) {
	doc, err := loadSpec()
	if err != nil {
		panic(err) // the embedded file is checked by the tests
	}
	for _, tmpl := range specPaths {
		params, ok := matchTemplate(tmpl, path)
		if !ok {
			continue
		}
		item := doc.Paths.Value(tmpl)
		op := item.GetOperation(method)
		if op == nil {
			return nil, nil
		}
		return &routers.Route{Spec: doc, Path: tmpl, PathItem: item, Method: method, Operation: op}, params
	}
	return nil, nil
}

func matchTemplate(tmpl, path string) (map[string]string, bool) {
	ts, ps := strings.Split(tmpl, "/"), strings.Split(path, "/")
	if len(ts) != len(ps) {
		return nil, false
	}
	params := map[string]string{}
	for i := range ts {
		if strings.HasPrefix(ts[i], "{") {
			if ps[i] == "" {
				return nil, false
			}
			params[strings.Trim(ts[i], "{}")] = ps[i]
			continue
		}
		if ts[i] != ps[i] {
			return nil, false
		}
	}
	return params, true
}

type requestInput = openapi3filter.RequestValidationInput

var validationOptions = &openapi3filter.Options{
	// The fake checks tokens itself, with the contract's 401 body.
	AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
	MultiError:         true,
}

// validateRequest checks r against its operation. The raw-body file upload
// (documented in the operation's description, absent from its schema) is
// checked for parameters only.
func validateRequest(r *http.Request, route *routers.Route, params map[string]string, body []byte) (*requestInput, error) {
	opts := *validationOptions
	if route.Path == "/api/v4/files" && !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		opts.ExcludeRequestBody = true
	}
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.RequestValidationInput{Request: r2, PathParams: params, Route: route, Options: &opts}
	err := openapi3filter.ValidateRequest(r.Context(), in)
	return in, err
}

func validateResponse(in *requestInput, status int, header http.Header, body []byte) error {
	if status <= 0 {
		return nil // hung request: nothing was answered
	}
	h := header.Clone()
	ct := h.Get("Content-Type")
	// Undocumented plain-text answers (429, webhook "ok") are not AppErrors
	// and the spec does not describe them.
	if ct != "" && !strings.HasPrefix(ct, "application/json") {
		return nil
	}
	err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 h,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                validationOptions,
	})
	var me openapi3.MultiError
	if errors.As(err, &me) && len(me) == 0 {
		return nil
	}
	return err
}

// patchPropsIsObject retypes props in the PatchPost body from string to
// object. The published spec says string, but the server decodes a PostPatch
// whose props is a JSON object (model.PostPatch.Props, a *StringInterface),
// and a string there is refused: the fake follows the server. The YAML stays
// verbatim; this is the one deliberate deviation.
func patchPropsIsObject(doc *openapi3.T) error {
	item := doc.Paths.Value("/api/v4/posts/{post_id}/patch")
	if item == nil || item.Put == nil || item.Put.RequestBody == nil || item.Put.RequestBody.Value == nil {
		return errors.New("mattermostfake: embedded OpenAPI subset has no PUT /api/v4/posts/{post_id}/patch body")
	}
	mt := item.Put.RequestBody.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil || mt.Schema.Value.Properties["props"] == nil {
		return errors.New("mattermostfake: embedded OpenAPI subset: PatchPost body has no props")
	}
	props := mt.Schema.Value.Properties["props"]
	props.Value = openapi3.NewObjectSchema().WithAnyAdditionalProperties()
	props.Value.Description = "A general JSON property bag to attach to the post (an object on the server)"
	return nil
}
