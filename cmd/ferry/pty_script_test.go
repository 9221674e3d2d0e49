package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"
)

// ptyRun is a program running on a pseudo-terminal (via util-linux
// script(1)), for the script commands that type at one: ptyexec and
// ptytype.
type ptyRun struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan error // the program's exit

	mu  sync.Mutex
	out bytes.Buffer // what the terminal showed
}

// startPty starts prog (a program and its arguments) on a pseudo-terminal
// in $WORK, with the script's values of the environment variables vars.
func startPty(ts *testscript.TestScript, vars, prog []string) *ptyRun {
	quoted := make([]string, len(prog))
	for i, a := range prog {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	p := &ptyRun{cmd: exec.Command("script", "-qec", strings.Join(quoted, " "), "/dev/null"), done: make(chan error, 1)}
	p.cmd.Dir = ts.Getenv("WORK")
	p.cmd.Env = os.Environ()
	for _, k := range vars {
		p.cmd.Env = append(p.cmd.Env, k+"="+ts.Getenv(k))
	}
	stdin, err := p.cmd.StdinPipe()
	ts.Check(err)
	p.stdin = stdin
	p.cmd.Stdout = writerFunc(func(b []byte) (int, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.out.Write(b)
	})
	p.cmd.Stderr = p.cmd.Stdout
	ts.Check(p.cmd.Start())
	go func() { p.done <- p.cmd.Wait() }()
	return p
}

// shown is what the terminal has shown so far.
func (p *ptyRun) shown() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// kill ends the program and returns its exit.
func (p *ptyRun) kill() error {
	p.cmd.Process.Kill()
	return <-p.done
}

// finish closes the terminal's input and saves what it showed in
// $WORK/pty.out (and the log).
func (p *ptyRun) finish(ts *testscript.TestScript) {
	p.stdin.Close()
	text := p.shown()
	ts.Check(os.WriteFile(filepath.Join(ts.Getenv("WORK"), "pty.out"), []byte(text), 0o644))
	ts.Logf("%q", text)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
