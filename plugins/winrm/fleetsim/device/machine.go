package device

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Spec is what a simulated machine starts as.
type Spec struct {
	Hostname     string // DNS name; the computer name is its first label, upper case
	Caption      string // e.g. "Microsoft Windows 10 Enterprise"
	Edition      string // EditionID, e.g. "Enterprise"
	Build        string // e.g. "10.0.19045"
	UBR          int
	KBs          []string
	DiskFreeGB   float64
	RAMGB        float64
	Manufacturer string
	Model        string
	Serial       string
	// Battery is set for laptops: Win32_Battery then reports one battery,
	// on AC power unless Behaviour.OnBattery.
	Battery bool
	// AuditProcesses keeps a log of every program the machine starts
	// (Processes), as Windows' process-creation auditing can; tests use it
	// to check that nothing ran that should not have.
	AuditProcesses bool

	Behaviour Behaviour
}

// Behaviour says how upgrades, patches and reboots go on this machine: the
// faults a simulated estate is seeded with.
type Behaviour struct {
	CompatBlock    bool          // setup's compatibility scan finds an incompatible app (0xC1900208)
	RollBack       bool          // the upgrade fails late and rolls back (0xC1900101)
	RebootHangs    bool          // a reboot never comes back
	RebootDuration time.Duration // how long a plain reboot takes (default 2 min)
	UpgradeTime    time.Duration // how long a feature update takes in all (default 75 min)
	OnBattery      bool          // a laptop running on its battery
}

// Media is the feature update the simulated setup.exe installs.
type Media struct {
	Build   string // e.g. "10.0.19045"
	UBR     int    // the media's base revision, e.g. 2006 for 22H2
	Release string // e.g. "22H2"
}

// DefaultMedia is Windows 10 22H2 installation media.
var DefaultMedia = Media{Build: "10.0.19045", UBR: 2006, Release: "22H2"}

// Truth is what really happened to a machine, for checking reports.
type Truth struct {
	Hostname         string   `json:"hostname"`
	Build            string   `json:"build"`
	UBR              int      `json:"ubr"`
	KBs              []string `json:"kbs"`
	UpgradesLaunched int      `json:"upgrades_launched"`
	UpgradesDone     int      `json:"upgrades_completed"`
	RolledBack       int      `json:"upgrades_rolled_back"`
	KBsInstalled     []string `json:"kbs_installed"`
	Reboots          int      `json:"reboots"`
	Up               bool     `json:"up"`
}

// Machine is one simulated Windows device. It is safe for concurrent use.
type Machine struct {
	clock Clock
	media Media

	mu            sync.Mutex
	s             Spec
	lastBoot      time.Time
	pendingReboot bool
	upgrade       *pendingUpgrade // staged by setup, applied by the next reboot
	previous      *Spec           // the OS before the last upgrade, for OS uninstall
	upgradedAt    time.Time
	setupLog      []string
	tasks         map[string]*task
	files         map[string]string // the disk: path (lower case) to content
	dirs          map[string]bool   // directories created explicitly
	downUntil     time.Time         // zero when up
	hung          bool
	offline       bool // off the network (a laptop taken home), though running
	truth         Truth
	onPower       []func(up bool)
	processes     []Process // with Spec.AuditProcesses
}

type pendingUpgrade struct {
	rollback bool
}

type task struct {
	name, command, runAs string
	running              bool
	lastResult           int
	lastRun              time.Time
	ran                  bool
}

// New returns a machine, booted at the clock's current time.
func New(s Spec, clock Clock, media Media) *Machine {
	s.KBs = slices.Clone(s.KBs)
	slices.Sort(s.KBs)
	if s.Behaviour.RebootDuration <= 0 {
		s.Behaviour.RebootDuration = 2 * time.Minute
	}
	if s.Behaviour.UpgradeTime <= 0 {
		s.Behaviour.UpgradeTime = 75 * time.Minute
	}
	m := &Machine{clock: clock, media: media, s: s, lastBoot: clock.Now(), tasks: map[string]*task{},
		files: map[string]string{}, dirs: map[string]bool{}}
	m.truth.Hostname = s.Hostname
	return m
}

// Name is the computer name (the first DNS label, upper case).
func (m *Machine) Name() string {
	name, _, _ := strings.Cut(m.s.Hostname, ".")
	return strings.ToUpper(name)
}

// Hostname is the machine's DNS name.
func (m *Machine) Hostname() string { return m.s.Hostname }

// OnPower registers a callback run when the machine goes down (false) or
// comes back up (true); the transport closes and reopens its endpoint.
func (m *Machine) OnPower(f func(up bool)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.onPower = append(m.onPower, f)
}

// Up reports whether the machine is running (not mid-reboot) and on the
// network.
func (m *Machine) Up() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.downUntil.IsZero() && !m.hung && !m.offline
}

// SetOnline takes the machine off the network (false) or back on (true),
// as when a laptop leaves the site mid-run. It keeps running: tasks go on
// and time passes; only its endpoint is unreachable.
func (m *Machine) SetOnline(online bool) {
	m.mu.Lock()
	changed := m.offline == online
	m.offline = !online
	running := m.downUntil.IsZero() && !m.hung
	callbacks := slices.Clone(m.onPower)
	m.mu.Unlock()
	if changed && running {
		for _, f := range callbacks {
			f(online)
		}
	}
}

// SetCompatBlock installs (true) or removes (false) the application the
// compatibility scan blocks on, as a person fixing a device after a failed
// upgrade does.
func (m *Machine) SetCompatBlock(block bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.s.Behaviour.CompatBlock = block
}

// Truth returns what has really happened to the machine so far.
func (m *Machine) Truth() Truth {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.truth
	t.Build, t.UBR, t.KBs = m.s.Build, m.s.UBR, slices.Clone(m.s.KBs)
	t.KBsInstalled = append([]string{}, m.truth.KBsInstalled...)
	if t.KBs == nil {
		t.KBs = []string{}
	}
	t.Up = m.downUntil.IsZero() && !m.hung && !m.offline
	return t
}

func (m *Machine) logSetup(format string, args ...any) {
	m.setupLog = append(m.setupLog, m.clock.Now().UTC().Format("2006-01-02 15:04:05")+", Info                  "+fmt.Sprintf(format, args...))
}

// reboot takes the machine down now and brings it back after the reboot
// (or upgrade) time, applying a staged upgrade on the way.
func (m *Machine) reboot() {
	m.mu.Lock()
	if !m.downUntil.IsZero() || m.hung {
		m.mu.Unlock()
		return
	}
	m.truth.Reboots++
	d := m.s.Behaviour.RebootDuration
	up := m.upgrade
	if up != nil {
		d = m.s.Behaviour.UpgradeTime * 6 / 10 // the offline phases: 60% of an upgrade
		m.truth.Reboots += 2                   // setup restarts the machine twice more on its own
	}
	m.downUntil = m.clock.Now().Add(d)
	hang := m.s.Behaviour.RebootHangs
	for _, t := range m.tasks {
		if t.running {
			t.running, t.lastResult = false, taskTerminated
		}
	}
	callbacks := slices.Clone(m.onPower)
	// Registered before anyone can see the machine down, so simulated time
	// cannot slip past the moment it comes back.
	back := m.clock.After(d)
	m.mu.Unlock()
	for _, f := range callbacks {
		f(false)
	}
	if hang {
		m.mu.Lock()
		m.hung = true
		m.mu.Unlock()
		return
	}
	go func() {
		<-back
		m.mu.Lock()
		m.downUntil = time.Time{}
		m.lastBoot = m.clock.Now()
		m.pendingReboot = false
		if up := m.upgrade; up != nil {
			m.upgrade = nil
			if up.rollback {
				m.truth.RolledBack++
				m.logSetup("SetupHost: Reporting error event: [0xC1900101] (rollback)")
			} else {
				prev := m.s
				m.previous = &prev
				m.upgradedAt = m.clock.Now()
				m.s.Build, m.s.UBR = m.media.Build, m.media.UBR
				m.s.Caption = "Microsoft Windows 10 " + win10Edition(m.s.Edition)
				m.s.Edition = editionID(m.s.Edition)
				m.s.KBs = nil
				m.truth.UpgradesDone++
				m.logSetup("SetupHost: Setup completed successfully: Windows 10 %s (%s.%d)", m.media.Release, m.media.Build, m.media.UBR)
			}
		}
		callbacks := slices.Clone(m.onPower)
		if m.offline {
			callbacks = nil
		}
		m.mu.Unlock()
		for _, f := range callbacks {
			f(true)
		}
	}()
}

// win10Edition maps an edition to the Windows 10 caption's edition word.
func win10Edition(e string) string {
	switch strings.ToLower(e) {
	case "professional", "pro":
		return "Pro"
	case "enterprises", "ltsb", "ltsc":
		return "Enterprise LTSC"
	case "":
		return "Enterprise"
	}
	return e
}

func editionID(e string) string {
	switch strings.ToLower(e) {
	case "professional", "pro":
		return "Professional"
	case "":
		return "Enterprise"
	}
	return e
}
