package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

// Spec says how to start one plugin.
type Spec struct {
	Name   string   // for logs and errors
	Path   string   // the plugin file, an absolute path; with Self, only the name the process is given (argv[0])
	Args   []string // e.g. the built-in executor's hidden subcommand
	SHA256 string   // hex digest the file must have; not used with Self
	// Self runs the executable this process is running, from
	// /proc/self/exe, instead of a file: the built-in executors are this
	// binary re-executed. Its path may since hold another file, but the
	// inode is the one already running here, so there is nothing to pin or
	// to check.
	Self bool
	// StartTimeout bounds the start: the handshake and the first Info call
	// (default DefaultStartTimeout). A file that says nothing for that
	// long is killed, with anything it started, and refused.
	StartTimeout time.Duration
	// CallTimeout bounds a single call that has no deadline of its own, so a
	// hung plugin cannot hold a caller forever (default 10 minutes).
	CallTimeout time.Duration
}

// CheckFile opens the plugin file at path as Start does, refuses it on the
// same grounds (a relative path, not a regular file, or an
// *UnsafePathError: the file or a directory above it could be changed by
// someone other than root and this user) and returns the hex SHA-256 of
// what it opened, to register.
func CheckFile(path string) (string, error) {
	f, err := openChecked(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sum, err := digest(f)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(sum), nil
}

// FileSHA256 returns the hex SHA-256 of whatever is at path now, with none
// of CheckFile's checks; register plugins with CheckFile.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Plugin is a running executor plugin, restarted when it fails. It
// implements sdk.Executor and is safe for concurrent use.
type Plugin struct {
	spec Spec
	log  *slog.Logger

	mu       sync.Mutex
	client   *plugin.Client
	exec     sdk.Executor
	restarts int
}

var _ sdk.Executor = (*Plugin)(nil)

// Start launches the plugin and checks it answers.
func Start(ctx context.Context, spec Spec, log *slog.Logger) (*Plugin, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if spec.StartTimeout <= 0 {
		spec.StartTimeout = DefaultStartTimeout
	}
	if spec.CallTimeout <= 0 {
		spec.CallTimeout = 10 * time.Minute
	}
	p := &Plugin{spec: spec, log: log.With("plugin", spec.Name)}
	if _, err := p.current(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, spec.StartTimeout)
	defer cancel()
	if _, err := p.Info(ctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("plugin %s: %w", spec.Name, err)
	}
	return p, nil
}

// Restarts says how many times the plugin has been started afresh.
func (p *Plugin) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

// Protocol is the plugin protocol version the running plugin and this
// host agreed on in the handshake (sdk.ProtocolVersion, since this host
// speaks no other), or 0 if it is not running.
func (p *Plugin) Protocol() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == nil {
		return 0
	}
	return p.client.NegotiatedVersion()
}

// Close stops the plugin.
func (p *Plugin) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil {
		p.client.Kill()
		p.client, p.exec = nil, nil
	}
}

// current returns the running plugin, starting it if needed.
func (p *Plugin) current() (sdk.Executor, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil && !p.client.Exited() {
		return p.exec, nil
	}
	if p.client != nil {
		p.client.Kill()
		p.restarts++
		p.log.Warn("restarting executor plugin")
	}
	client, rpc, err := p.launch()
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", p.spec.Name, err)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("plugin %s: %w", p.spec.Name, err)
	}
	x, ok := raw.(sdk.Executor)
	if !ok {
		client.Kill()
		return nil, fmt.Errorf("plugin %s: dispensed %T, not an executor", p.spec.Name, raw)
	}
	p.client, p.exec = client, x
	return x, nil
}

// killWait bounds the wait for go-plugin to finish with a plugin that
// failed to start, once its process group has been killed.
const killWait = 2 * time.Second

// launch opens the plugin file, checks it and starts exactly what it
// checked (see exec_linux.go), and completes go-plugin's handshake.
func (p *Plugin) launch() (*plugin.Client, plugin.ClientProtocol, error) {
	var (
		f     *os.File
		err   error
		argv0 = p.spec.Path
	)
	if p.spec.Self {
		f, err = openSelf()
		if argv0 == "" {
			argv0 = os.Args[0]
		}
	} else {
		f, err = openPlugin(p.spec.Path, p.spec.SHA256)
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close() // once started, the child has its own descriptor
	cmd, err := command(f, argv0, p.spec.Args, pluginEnv(os.Environ()))
	if err != nil {
		return nil, nil, err
	}
	logw := &slogWriter{log: p.log}
	// What the plugin writes to its stdout and stderr once serving
	// (go-plugin swaps them for pipes it forwards over gRPC) is logged as
	// well, a line at a time, rather than dropped.
	stdout, stderr := &slogWriter{log: p.log.With("stream", "stdout")}, &slogWriter{log: p.log.With("stream", "stderr")}
	client := plugin.NewClient(&plugin.ClientConfig{
		SyncStdout:       stdout,
		SyncStderr:       stderr,
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.PluginSets(nil),
		Cmd:              cmd,
		// No SecureConfig: it hashes cmd.Path, a path that may hold another
		// file by the time it runs. openPlugin checked what cmd runs.
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     p.spec.StartTimeout,
		SkipHostEnv:      true, // go-plugin would otherwise append the host's whole environment to cmd.Env
		Logger:           hclog.New(&hclog.LoggerOptions{Name: p.spec.Name, Output: logw, JSONFormat: true, Level: hclog.Debug}),
		Managed:          false,
	})
	rpc, err := client.Client()
	if err != nil {
		killGroup(cmd)
		// Kill waits for go-plugin's goroutines, which wait for the
		// plugin's stdout and stderr to close. With the group dead that is
		// at once, but a process that left the group could hold them for
		// as long as it lives, and that must not hold the caller.
		killed := make(chan struct{})
		go func() {
			client.Kill()
			close(killed)
		}()
		select {
		case <-killed:
		case <-time.After(killWait):
			p.log.Warn("a process the plugin started left its process group and holds its output open")
		}
		logw.close()
		stdout.close()
		stderr.close()
		return nil, nil, startError(argv0, p.spec.StartTimeout, err)
	}
	return client, rpc, nil
}

// call runs f on the current plugin; if the plugin failed while serving it
// (crashed, hung past the deadline, broke the stream), the next call
// starts a fresh one.
func call[T any](ctx context.Context, p *Plugin, op, target string, f func(context.Context, sdk.Executor) (T, error)) (T, error) {
	var zero T
	x, err := p.current()
	if err != nil {
		return zero, &sdk.Error{Kind: sdk.Internal, Op: op, Target: target, Err: err}
	}
	if _, has := ctx.Deadline(); !has {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.spec.CallTimeout)
		defer cancel()
	}
	v, err := f(ctx, x)
	if sdk.IsKind(err, sdk.Internal) || (sdk.IsKind(err, sdk.TimedOut) && ctx.Err() != nil) {
		p.recycleIfBroken(x)
	}
	return v, err
}

// recycleIfBroken kills the plugin if it no longer answers, so the next
// call starts a fresh one. A plugin that still answers Info is kept.
func (p *Plugin) recycleIfBroken(x sdk.Executor) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := x.Info(ctx); err == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exec == x && p.client != nil {
		p.log.Warn("executor plugin stopped answering; it will be restarted")
		p.client.Kill()
	}
}

// Info implements sdk.Executor.
func (p *Plugin) Info(ctx context.Context) (sdk.Info, error) {
	return call(ctx, p, "info", "", func(ctx context.Context, x sdk.Executor) (sdk.Info, error) { return x.Info(ctx) })
}

// Probe implements sdk.Executor.
func (p *Plugin) Probe(ctx context.Context, t sdk.Target) (sdk.ProbeResult, error) {
	return call(ctx, p, "probe", t.Hostname, func(ctx context.Context, x sdk.Executor) (sdk.ProbeResult, error) { return x.Probe(ctx, t) })
}

// Exec implements sdk.Executor.
func (p *Plugin) Exec(ctx context.Context, t sdk.Target, c sdk.Command, out func(sdk.Chunk)) (sdk.Result, error) {
	return call(ctx, p, "exec", t.Hostname, func(ctx context.Context, x sdk.Executor) (sdk.Result, error) { return x.Exec(ctx, t, c, out) })
}

// slogWriter re-logs go-plugin's JSON hclog lines (its own and the
// plugin's stderr) through slog.
type slogWriter struct {
	log    *slog.Logger
	mu     sync.Mutex
	buf    []byte
	closed bool
}

// close drops whatever is written from now on: go-plugin may still log
// about a plugin whose start the caller has already been told failed.
func (w *slogWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
}

func (w *slogWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return len(b), nil
	}
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		w.line(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
}

func (w *slogWriter) line(l []byte) {
	var m map[string]any
	if json.Unmarshal(l, &m) != nil {
		w.log.Info(string(bytes.TrimSpace(l)))
		return
	}
	level := slog.LevelInfo
	switch m["@level"] {
	case "trace", "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	msg, _ := m["@message"].(string)
	var attrs []any
	for k, v := range m {
		if k == "@level" || k == "@message" || k == "@timestamp" {
			continue
		}
		attrs = append(attrs, k, v)
	}
	w.log.Log(context.Background(), level, msg, attrs...)
}
