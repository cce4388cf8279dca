package diagnosis

import (
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/profileindex"
	"github.com/slowspan/slowspan/internal/safetext"
)

// FuzzDiagnose builds a request from raw bytes: groups, calls anywhere
// (outside the request, reversed, of unknown groups) and samples with odd
// frames and times. Diagnose must not panic, must keep its text one clean
// bounded line, and its accounting within the wall time.
func FuzzDiagnose(f *testing.F) {
	f.Add([]byte{5, 1, 2, 3, 4, 5, 6, 7, 8, 9}, "postgresql SELECT 1", "main.x\nfoo", int64(1500))
	f.Add([]byte{}, "", "", int64(0))
	f.Add([]byte{255, 0, 255, 0, 1, 1, 1, 1}, "\xff@channel", "runtime.gopark", int64(-5))
	f.Fuzz(func(t *testing.T, raw []byte, desc, frame string, wallMs int64) {
		r := Request{Start: 1000, Wall: time.Duration(wallMs%100000) * time.Millisecond}
		for i := 0; i+3 < len(raw) && i < 400; i += 4 {
			r.Groups = append(r.Groups, Group{Class: Class(raw[i] % 3), System: desc, Description: desc, Count: int(raw[i+1])})
			r.Calls = append(r.Calls, Call{
				Group: int(raw[i+1] % 8),
				Start: time.Duration(int8(raw[i+2])) * 10 * time.Millisecond,
				End:   time.Duration(int8(raw[i+3])) * 10 * time.Millisecond,
			})
		}
		if len(raw) > 0 {
			kind := profileindex.Kind(raw[0] % 3)
			r.Samples = &profileindex.Samples{MainModule: desc, Samples: []profileindex.Sample{{
				Kind: kind, Frames: []string{"runtime.gopark", frame, "main.f"}, Lines: []string{"", frame},
				CPU: time.Duration(raw[0]) * time.Millisecond, Count: int64(raw[len(raw)-1]),
				Times: []int64{int64(raw[0]) * 1e6, -1},
			}}}
			r.Profile = &alert.Profile{CPUTime: time.Duration(raw[len(raw)-1]) * time.Millisecond,
				ByAppCode: []alert.CodeGroup{{Function: frame, Line: desc, Share: 0.5}}, HottestFrame: frame}
		}
		res := Diagnose(r)
		d := res.Diagnosis
		if d == nil {
			return
		}
		for _, s := range []string{d.Text, d.Frame, d.Line} {
			if !utf8.ValidString(s) || len(s) > MaxText {
				t.Fatalf("not a bounded valid string: %q", s)
			}
			for _, c := range s {
				if safetext.IsControl(c) {
					t.Fatalf("control character in %q", s)
				}
			}
		}
		if d.Time.Children > r.Wall || d.Time.OnCPU > r.Wall || d.Time.OffCPU < 0 || d.Time.Children < 0 {
			t.Fatalf("accounting out of the wall time %v: %+v", r.Wall, d.Time)
		}
		if len(res.Patterns) != len(r.Groups) || len(res.Busy) != len(r.Groups) {
			t.Fatalf("patterns/busy not parallel to groups")
		}
	})
}
