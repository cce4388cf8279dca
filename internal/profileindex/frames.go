package profileindex

import "strings"

// AppCode tells the app's own functions from the runtime, the standard
// library and third-party modules.
type AppCode struct {
	// MainModule is the app's Go main module path; empty when unknown,
	// then every function outside the runtime and the standard library
	// counts as the app's (IsAppCode).
	MainModule string
}

// Is reports whether fn is the app's own code.
func (a AppCode) Is(fn string) bool {
	if a.MainModule == "" || a.MainModule == "command-line-arguments" {
		return IsAppCode(fn)
	}
	if strings.HasPrefix(fn, "main.") {
		return true
	}
	rest, ok := strings.CutPrefix(fn, a.MainModule)
	return ok && rest != "" && (rest[0] == '.' || rest[0] == '/')
}

// parkFrames are the leaf frames of a goroutine that is not running: Go
// parks a goroutine blocked on a sleep, a lock, a channel, a select,
// network I/O or a cond through one of them. A goroutine in a blocking
// system call (regular-file I/O) or a cgo call (cgo DNS, sqlite) is not
// parked but waits in the kernel or C: its leaf is the call itself.
var parkFrames = []string{
	"runtime.gopark",
	"runtime.goparkunlock",
	"runtime.notetsleepg",
	"runtime.park_m",
	"syscall.Syscall",
	"syscall.Syscall6",
	"syscall.RawSyscall",
	"syscall.RawSyscall6",
	"syscall.syscall",
	"syscall.syscall6",
	"internal/runtime/syscall.Syscall6",
	"runtime/internal/syscall.Syscall6",
	"runtime.cgocall",
	"runtime.asmcgocall",
}

// Waiting reports whether s was taken off CPU: an off-CPU sample, or a
// wall-clock sample whose leaf frame is the runtime parking the goroutine
// or a blocking system or cgo call.
func Waiting(s Sample) bool {
	switch s.Kind {
	case KindOffCPU:
		return true
	case KindWall:
		if len(s.Frames) == 0 {
			return false
		}
		for _, f := range parkFrames {
			if s.Frames[0] == f {
				return true
			}
		}
	}
	return false
}

// WaitPoint names where a waiting sample waited: call is the blocking
// function the app called (time.Sleep, sync.(*Mutex).Lock, ...), caller the
// app function that called it and line the caller's file:line. Without an
// app frame, call is the first frame outside the runtime and caller is
// empty.
func WaitPoint(s Sample, app AppCode) (call, caller, line string) {
	for i, f := range s.Frames {
		if !app.Is(f) {
			continue
		}
		if i > 0 {
			call = s.Frames[i-1]
		}
		return call, f, lineAt(s, i)
	}
	for _, f := range s.Frames {
		if !strings.HasPrefix(f, "runtime.") {
			return f, "", ""
		}
	}
	if len(s.Frames) > 0 {
		return s.Frames[0], "", ""
	}
	return "", "", ""
}

func lineAt(s Sample, i int) string {
	if i < len(s.Lines) {
		return s.Lines[i]
	}
	return ""
}
