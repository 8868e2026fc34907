package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

// ErrChecksum reports a plugin binary that is not the one registered.
var ErrChecksum = errors.New("plugin binary does not match its registered SHA-256")

// Spec says how to start one plugin.
type Spec struct {
	Name   string   // for logs and errors
	Path   string   // the binary
	Args   []string // e.g. the built-in executor's hidden subcommand
	SHA256 string   // hex digest the binary must have
	// CallTimeout bounds a single call that has no deadline of its own, so a
	// hung plugin cannot hold a caller forever (default 10 minutes).
	CallTimeout time.Duration
}

// FileSHA256 returns the hex SHA-256 of a file, for registering a plugin.
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
	if spec.CallTimeout <= 0 {
		spec.CallTimeout = 10 * time.Minute
	}
	p := &Plugin{spec: spec, log: log.With("plugin", spec.Name)}
	if _, err := p.current(); err != nil {
		return nil, err
	}
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
	sum, err := hex.DecodeString(p.spec.SHA256)
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("plugin %s: registered SHA-256 %q is not a hex SHA-256", p.spec.Name, p.spec.SHA256)
	}
	actual, err := FileSHA256(p.spec.Path)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", p.spec.Name, err)
	}
	if actual != p.spec.SHA256 {
		return nil, fmt.Errorf("plugin %s (%s): %w: registered %s, the file is %s; reinstall it with `ringmaster plugin install` if the change is yours",
			p.spec.Name, p.spec.Path, ErrChecksum, p.spec.SHA256, actual)
	}
	cmd := exec.Command(p.spec.Path, p.spec.Args...)
	cmd.Env = pluginEnv(os.Environ()) // nothing secret reaches a plugin through its environment
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.PluginSets(nil),
		Cmd:              cmd,
		SecureConfig:     &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true, // go-plugin would otherwise append the host's whole environment to cmd.Env
		Logger:           hclog.New(&hclog.LoggerOptions{Name: p.spec.Name, Output: &slogWriter{log: p.log}, JSONFormat: true, Level: hclog.Debug}),
		Managed:          false,
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			return nil, fmt.Errorf("plugin %s: %w", p.spec.Name, ErrChecksum)
		}
		return nil, fmt.Errorf("plugin %s: start: %w", p.spec.Name, err)
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
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
}

func (w *slogWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
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
