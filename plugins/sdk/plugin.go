package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/ringmaster-fleet/ringmaster/plugins/sdk/proto"
)

// ProtocolVersion is the executor plugin protocol's version.
const ProtocolVersion = 1

// PluginName is the name the executor is dispensed under.
const PluginName = "executor"

// Handshake is shared by Ringmaster and every executor plugin. The cookie
// is not a secret: it stops a plugin binary run by hand from waiting for a
// host that is not there.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "RINGMASTER_EXECUTOR_PLUGIN",
	MagicCookieValue: "6f1d2c0e-ringmaster-executor",
}

// PluginSets declares the protocol versions this SDK speaks, for
// plugin.ClientConfig.VersionedPlugins and plugin.ServeConfig.
func PluginSets(impl Executor) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{ProtocolVersion: {PluginName: &ExecutorPlugin{Impl: impl}}}
}

// Serve runs an executor as a plugin; call it from the plugin's main. It
// returns when the host is done with the plugin, and the plugin exits
// within a second of its host's death.
func Serve(impl Executor) {
	go exitWithParent(os.Getppid(), time.Second)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: PluginSets(impl),
		GRPCServer:       plugin.DefaultGRPCServer,
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "executor", JSONFormat: true, Level: hclog.Info}),
	})
}

// stderr is the plugin's standard error as the process started: the host
// reads it. (Serve swaps os.Stderr for a pipe to the host's stdio stream.)
var stderr = os.Stderr

// Logger returns the logger an executor plugin writes its logs with: JSON
// lines on the stderr the host reads, in the form it parses (hclog's
// "@level" and "@message"), each logged by Ringmaster at its level with
// the plugin's name. Ringmaster keeps lines at level or above, as its own
// --log-level says. Never log a Target's Password, or anything a script
// or its output may carry that the device's owner would not want in a
// central log.
func Logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) > 0 {
			return a
		}
		switch a.Key {
		case slog.TimeKey: // in the one layout go-plugin parses
			return slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
		case slog.LevelKey:
			lvl, _ := a.Value.Any().(slog.Level)
			return slog.String("@level", hclogLevel(lvl))
		case slog.MessageKey:
			return slog.String("@message", a.Value.String())
		}
		return a
	}}))
}

// hclogLevel is the hclog name of a slog level.
func hclogLevel(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}

// exitWithParent ends the plugin once the host that started it is gone: a
// host killed with SIGKILL cannot stop its plugins, and an orphaned
// executor would hold connections to devices for nobody. An orphan is
// re-parented, so its parent's pid changes. (Where processes are not
// re-parented, as on Windows, this never fires.)
func exitWithParent(ppid int, every time.Duration) {
	if ppid <= 1 {
		return
	}
	for range time.Tick(every) {
		if os.Getppid() != ppid {
			os.Exit(0)
		}
	}
}

// ExecutorPlugin is the go-plugin bridge: GRPCServer serves Impl inside the
// plugin, GRPCClient returns the Executor the host calls.
type ExecutorPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Executor
}

var _ plugin.GRPCPlugin = (*ExecutorPlugin)(nil)

// GRPCServer implements plugin.GRPCPlugin.
func (p *ExecutorPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterExecutorServer(s, &GRPCServer{Impl: p.Impl})
	return nil
}

// GRPCClient implements plugin.GRPCPlugin.
func (p *ExecutorPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &GRPCClient{client: pb.NewExecutorClient(c)}, nil
}

// GRPCServer adapts an Executor to the generated gRPC service.
type GRPCServer struct {
	pb.UnimplementedExecutorServer
	Impl Executor
}

// Info implements the gRPC service.
func (s *GRPCServer) Info(ctx context.Context, _ *pb.InfoRequest) (*pb.InfoResponse, error) {
	info, err := s.Impl.Info(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.InfoResponse{Name: info.Name, Version: info.Version, Capabilities: info.Capabilities}, nil
}

// Probe implements the gRPC service.
func (s *GRPCServer) Probe(ctx context.Context, r *pb.ProbeRequest) (*pb.ProbeResponse, error) {
	res, err := s.Impl.Probe(ctx, targetFromPB(r.GetTarget()))
	if err != nil {
		return &pb.ProbeResponse{Error: errorToPB(err, "probe", r.GetTarget().GetHostname())}, nil
	}
	f := res.Facts
	return &pb.ProbeResponse{ObservedAtUnixMs: res.ObservedAt.UnixMilli(), Facts: &pb.Facts{
		Hostname: f.Hostname, OsCaption: f.OSCaption, OsEdition: f.OSEdition, OsBuild: f.OSBuild, Ubr: int32(f.UBR),
		Kbs: f.KBs, DiskFreeGb: f.DiskFreeGB, RamGb: f.RAMGB, Manufacturer: f.Manufacturer, Model: f.Model, Serial: f.Serial,
		LastBootUnixMs: unixMs(f.LastBoot), PendingReboot: f.PendingReboot,
	}}, nil
}

// Exec implements the gRPC service: chunks as they come, then the result.
func (s *GRPCServer) Exec(r *pb.ExecRequest, stream pb.Executor_ExecServer) error {
	c := r.GetCommand()
	cmd := Command{Shell: Shell(c.GetShell()), Script: c.GetScript(), Stdin: c.GetStdin(), Timeout: time.Duration(c.GetTimeoutMs()) * time.Millisecond}
	var (
		mu       sync.Mutex
		sendErr  error
		streamed = map[Stream]int{}
	)
	send := func(ch Chunk) {
		mu.Lock()
		defer mu.Unlock()
		if sendErr == nil {
			streamed[ch.Stream] += len(ch.Data)
			sendErr = stream.Send(&pb.ExecEvent{Event: &pb.ExecEvent_Chunk{Chunk: &pb.Chunk{Stream: string(ch.Stream), Data: ch.Data}}})
		}
	}
	res, err := s.Impl.Exec(stream.Context(), targetFromPB(r.GetTarget()), cmd, send)
	// An executor that puts output in its Result without streaming all of
	// it (the contract asks for both) would lose the rest here, where only
	// chunks cross: send what was not streamed.
	for _, tail := range []struct {
		s    Stream
		data []byte
	}{{Stdout, res.Stdout}, {Stderr, res.Stderr}} {
		mu.Lock()
		n := streamed[tail.s]
		mu.Unlock()
		for rest := tail.data[min(n, len(tail.data)):]; len(rest) > 0; { // in chunks well under gRPC's message limit
			k := min(len(rest), 64<<10)
			send(Chunk{Stream: tail.s, Data: rest[:k]})
			rest = rest[k:]
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if sendErr != nil {
		return sendErr
	}
	out := &pb.ExecResult{ExitCode: int32(res.ExitCode), DurationMs: res.Duration.Milliseconds()}
	if err != nil {
		out.Error = errorToPB(err, "exec", r.GetTarget().GetHostname())
	}
	return stream.Send(&pb.ExecEvent{Event: &pb.ExecEvent_Result{Result: out}})
}

// GRPCClient is the host's Executor backed by a plugin.
type GRPCClient struct {
	client pb.ExecutorClient
}

var _ Executor = (*GRPCClient)(nil)

// Info implements Executor.
func (c *GRPCClient) Info(ctx context.Context) (Info, error) {
	r, err := c.client.Info(ctx, &pb.InfoRequest{})
	if err != nil {
		return Info{}, transportError(ctx, err, "info", "")
	}
	return Info{Name: r.GetName(), Version: r.GetVersion(), Capabilities: r.GetCapabilities()}, nil
}

// Probe implements Executor.
func (c *GRPCClient) Probe(ctx context.Context, t Target) (ProbeResult, error) {
	r, err := c.client.Probe(ctx, &pb.ProbeRequest{Target: targetToPB(t)})
	if err != nil {
		return ProbeResult{}, transportError(ctx, err, "probe", t.Hostname)
	}
	if r.GetError() != nil {
		return ProbeResult{}, errorFromPB(r.GetError())
	}
	f := r.GetFacts()
	return ProbeResult{ObservedAt: fromUnixMs(r.GetObservedAtUnixMs()), Facts: Facts{
		Hostname: f.GetHostname(), OSCaption: f.GetOsCaption(), OSEdition: f.GetOsEdition(), OSBuild: f.GetOsBuild(),
		UBR: int(f.GetUbr()), KBs: f.GetKbs(), DiskFreeGB: f.GetDiskFreeGb(), RAMGB: f.GetRamGb(),
		Manufacturer: f.GetManufacturer(), Model: f.GetModel(), Serial: f.GetSerial(), LastBoot: fromUnixMs(f.GetLastBootUnixMs()), PendingReboot: f.GetPendingReboot(),
	}}, nil
}

// Exec implements Executor.
func (c *GRPCClient) Exec(ctx context.Context, t Target, cmd Command, out func(Chunk)) (Result, error) {
	stream, err := c.client.Exec(ctx, &pb.ExecRequest{Target: targetToPB(t), Command: &pb.Command{
		Shell: string(cmd.Shell), Script: cmd.Script, Stdin: cmd.Stdin, TimeoutMs: cmd.Timeout.Milliseconds()}})
	if err != nil {
		return Result{}, transportError(ctx, err, "exec", t.Hostname)
	}
	var res Result
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return res, &Error{Kind: Internal, Op: "exec", Target: t.Hostname, Err: errors.New("the executor plugin ended the stream without a result")}
		}
		if err != nil {
			return res, transportError(ctx, err, "exec", t.Hostname)
		}
		switch e := ev.GetEvent().(type) {
		case *pb.ExecEvent_Chunk:
			ch := Chunk{Stream: Stream(e.Chunk.GetStream()), Data: e.Chunk.GetData()}
			if ch.Stream == Stderr {
				res.Stderr = append(res.Stderr, ch.Data...)
			} else {
				res.Stdout = append(res.Stdout, ch.Data...)
			}
			if out != nil {
				out(ch)
			}
		case *pb.ExecEvent_Result:
			res.ExitCode, res.Duration = int(e.Result.GetExitCode()), time.Duration(e.Result.GetDurationMs())*time.Millisecond
			if e.Result.GetError() != nil {
				return res, errorFromPB(e.Result.GetError())
			}
			return res, nil
		default:
			return res, &Error{Kind: Protocol, Op: "exec", Target: t.Hostname, Err: fmt.Errorf("the executor plugin sent an unknown event %T", e)}
		}
	}
}

// transportError types a failure of the plugin connection itself: the
// caller's cancel or deadline, else the plugin is broken (crashed, hung up,
// answered garbage). gRPC sends the caller's deadline to the plugin, whose
// own timer may end the stream (DeadlineExceeded) a moment before the
// caller's context says so: that is the caller's deadline too.
func transportError(ctx context.Context, err error, op, target string) error {
	_, hasDeadline := ctx.Deadline()
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return &Error{Kind: Cancelled, Op: op, Target: target, Err: ctx.Err()}
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &Error{Kind: TimedOut, Op: op, Target: target, Err: ctx.Err()}
	case hasDeadline && status.Code(err) == codes.DeadlineExceeded:
		return &Error{Kind: TimedOut, Op: op, Target: target, Err: err}
	}
	return &Error{Kind: Internal, Op: op, Target: target, Err: fmt.Errorf("executor plugin failed: %w", err)}
}

func targetToPB(t Target) *pb.Target {
	return &pb.Target{Hostname: t.Hostname, Address: t.Address, Https: t.HTTPS, CaCertPem: t.CACertPEM, InsecureSkipVerify: t.InsecureSkipVerify,
		TlsServerName: t.TLSServerName, Auth: t.Auth, Username: t.Username, Password: t.Password,
		ConnectTimeoutMs: t.ConnectTimeout.Milliseconds(), Options: t.Options}
}

func targetFromPB(t *pb.Target) Target {
	return Target{Hostname: t.GetHostname(), Address: t.GetAddress(), HTTPS: t.GetHttps(), CACertPEM: t.GetCaCertPem(),
		InsecureSkipVerify: t.GetInsecureSkipVerify(), TLSServerName: t.GetTlsServerName(), Auth: t.GetAuth(),
		Username: t.GetUsername(), Password: t.GetPassword(), ConnectTimeout: time.Duration(t.GetConnectTimeoutMs()) * time.Millisecond,
		Options: t.GetOptions()}
}

func errorToPB(err error, op, target string) *pb.Error {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Kind: Internal, Op: op, Target: target, Err: err}
	}
	msg := ""
	if e.Err != nil {
		msg = e.Err.Error()
	}
	return &pb.Error{Kind: string(e.Kind), Op: e.Op, Target: e.Target, ExitCode: int32(e.ExitCode), Message: msg}
}

func errorFromPB(e *pb.Error) error {
	out := &Error{Kind: Kind(e.GetKind()), Op: e.GetOp(), Target: e.GetTarget(), ExitCode: int(e.GetExitCode())}
	switch out.Kind {
	case Unreachable, TimedOut, AuthFailed, TLS, Protocol, Cancelled, CommandFailed, Internal:
	default:
		out.Kind = Protocol // a kind this host does not know: the plugin answered garbage
	}
	if m := e.GetMessage(); m != "" {
		out.Err = errors.New(m)
	}
	return out
}

func unixMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromUnixMs(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
