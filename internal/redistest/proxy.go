package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Proxy forwards TCP connections to a Redis server, holding every chunk the
// server sends back for Delay (a slow but healthy server), and counts the
// commands clients send, by name.
type Proxy struct {
	Addr   string
	target string
	delay  time.Duration
	ln     net.Listener
	done   chan struct{}
	wg     sync.WaitGroup

	mu       sync.Mutex
	conns    []net.Conn
	commands map[string]int
}

// StartProxy listens on a loopback port in front of target and closes
// when the test ends.
func StartProxy(t testing.TB, target string, delay time.Duration) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, delay: delay, ln: ln,
		done: make(chan struct{}), commands: map[string]int{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Commands returns how many commands of each name (upper case) passed
// since the last Reset.
func (p *Proxy) Commands() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.commands))
	for k, v := range p.commands {
		out[k] = v
	}
	return out
}

// Reset forgets the commands counted so far.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.commands)
}

// Close stops the proxy and every connection through it.
func (p *Proxy) Close() {
	select {
	case <-p.done:
		return
	default:
	}
	p.mu.Lock()
	close(p.done)
	p.mu.Unlock()
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		p.mu.Lock()
		select {
		case <-p.done: // Close swept the connections already
			p.mu.Unlock()
			_ = client.Close()
			_ = server.Close()
			return
		default:
		}
		p.conns = append(p.conns, client, server)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.requests(client, server)
		go p.replies(server, client)
	}
}

// requests forwards the client's commands one by one, counting them.
func (p *Proxy) requests(client, server net.Conn) {
	defer p.wg.Done()
	defer func() { _ = server.Close() }() // ends the other direction too
	rd := bufio.NewReader(client)
	for {
		raw, name, err := readCommand(rd)
		if err != nil {
			return
		}
		p.mu.Lock()
		p.commands[name]++
		p.mu.Unlock()
		if _, err := server.Write(raw); err != nil {
			return
		}
	}
}

// replies forwards what the server sends, each read held for the delay.
func (p *Proxy) replies(server, client net.Conn) {
	defer p.wg.Done()
	defer func() { _ = client.Close() }() // ends the other direction too
	buf := make([]byte, 64<<10)
	for {
		n, err := server.Read(buf)
		if n > 0 {
			t := time.NewTimer(p.delay)
			select {
			case <-t.C:
			case <-p.done:
				t.Stop()
				return
			}
			if _, werr := client.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// readCommand reads one RESP command (an array of bulk strings) and
// returns its bytes and its name.
func readCommand(rd *bufio.Reader) ([]byte, string, error) {
	var raw []byte
	line, err := readLine(rd, &raw)
	if err != nil {
		return nil, "", err
	}
	if !strings.HasPrefix(line, "*") {
		return nil, "", fmt.Errorf("not a RESP command: %q", line)
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 1 {
		return nil, "", fmt.Errorf("bad RESP array header %q", line)
	}
	var name string
	for i := range n {
		hdr, err := readLine(rd, &raw)
		if err != nil {
			return nil, "", err
		}
		size, err := strconv.Atoi(strings.TrimPrefix(hdr, "$"))
		if err != nil || !strings.HasPrefix(hdr, "$") {
			return nil, "", fmt.Errorf("bad RESP bulk header %q", hdr)
		}
		arg := make([]byte, size+2)
		if _, err := io.ReadFull(rd, arg); err != nil {
			return nil, "", err
		}
		raw = append(raw, arg...)
		if i == 0 {
			name = strings.ToUpper(string(arg[:size]))
		}
	}
	return raw, name, nil
}

func readLine(rd *bufio.Reader, raw *[]byte) (string, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	*raw = append(*raw, line...)
	if !strings.HasSuffix(line, "\r\n") {
		return "", errors.New("RESP line without CRLF")
	}
	return strings.TrimSuffix(line, "\r\n"), nil
}
