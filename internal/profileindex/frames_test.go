package profileindex

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAppCode(t *testing.T) {
	mod := AppCode{MainModule: "github.com/acme/shop"}
	none := AppCode{}
	tests := []struct {
		fn        string
		withMod   bool
		withoutMd bool
	}{
		{"main.getOrder", true, true},
		{"github.com/acme/shop.Handler", true, true},
		{"github.com/acme/shop/internal/orders.(*Repo).Get", true, true},
		{"github.com/acme/shopping.Get", false, true},
		{"github.com/jackc/pgx/v5.(*Conn).Query", false, true},
		{"time.Sleep", false, false},
		{"runtime.gopark", false, false},
		{"[unknown]", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.withMod, mod.Is(tt.fn), "with module: %s", tt.fn)
		assert.Equal(t, tt.withoutMd, none.Is(tt.fn), "without module: %s", tt.fn)
	}
}

func TestWaitPoint(t *testing.T) {
	app := AppCode{MainModule: "github.com/acme/shop"}
	tests := []struct {
		name               string
		s                  Sample
		waiting            bool
		call, caller, line string
	}{
		{
			name: "sleep",
			s: Sample{Kind: KindWall,
				Frames: []string{"runtime.gopark", "time.Sleep", "main.getOrder", "net/http.HandlerFunc.ServeHTTP"},
				Lines:  []string{"proc.go:435", "time.go:338", "orders.go:17", "server.go:2294"}},
			waiting: true, call: "time.Sleep", caller: "main.getOrder", line: "orders.go:17",
		},
		{
			name: "mutex",
			s: Sample{Kind: KindWall, Frames: []string{
				"runtime.gopark", "runtime.goparkunlock", "runtime.semacquire1", "sync.runtime_SemacquireMutex",
				"internal/sync.(*Mutex).lockSlow", "internal/sync.(*Mutex).Lock", "sync.(*Mutex).Lock",
				"github.com/acme/shop/internal/stock.Reserve", "main.handler"}},
			waiting: true, call: "sync.(*Mutex).Lock", caller: "github.com/acme/shop/internal/stock.Reserve",
		},
		{
			name:    "running, not waiting",
			s:       Sample{Kind: KindWall, Frames: []string{"crypto/sha256.block", "main.sum"}},
			waiting: false, call: "crypto/sha256.block", caller: "main.sum",
		},
		{
			name:    "cpu samples never wait",
			s:       Sample{Kind: KindCPU, Frames: []string{"runtime.gopark", "main.x"}},
			waiting: false, call: "runtime.gopark", caller: "main.x",
		},
		{
			name:    "off-CPU without app frames",
			s:       Sample{Kind: KindOffCPU, Frames: []string{"runtime.gopark", "runtime.chanrecv1", "net/http.(*conn).serve"}},
			waiting: true, call: "net/http.(*conn).serve",
		},
		{
			name: "a blocking read of a file waits in the system call",
			s: Sample{Kind: KindWall, Frames: []string{"internal/runtime/syscall.Syscall6", "syscall.Syscall", "syscall.read",
				"internal/poll.(*FD).Read", "os.(*File).Read", "os.ReadFile", "main.loadConfig"}},
			waiting: true, call: "os.ReadFile", caller: "main.loadConfig",
		},
		{name: "empty", s: Sample{Kind: KindWall}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.waiting, Waiting(tt.s))
			call, caller, line := WaitPoint(tt.s, app)
			assert.Equal(t, tt.call, call)
			assert.Equal(t, tt.caller, caller)
			assert.Equal(t, tt.line, line)
		})
	}
}
