package inventory

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
)

// Version is a Windows OS version: major.minor.build, as in 10.0.19045
// (Win32_OperatingSystem.Version). The update build revision (UBR) is a
// separate fact because it changes with every cumulative update.
// The zero Version means "unknown".
type Version struct {
	Major, Minor, Build int
}

// ParseVersion parses "10.0.19045". A fourth part ("10.0.19045.3803", as
// Configuration Manager shows it) is returned as ubr, or -1 when absent.
func ParseVersion(s string) (v Version, ubr int, err error) {
	s = strings.TrimSpace(s)
	var nums [4]int
	parts := 0
	for rest := s; ; parts++ {
		p, tail, more := strings.Cut(rest, ".")
		if parts == 4 {
			return Version{}, -1, fmt.Errorf("version %s: want major.minor.build such as 10.0.19045", QuoteValue(s))
		}
		if p == "" || len(p) > 6 {
			return Version{}, -1, fmt.Errorf("version %s: part %d (%s) is not a number", QuoteValue(s), parts+1, QuoteValue(p))
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return Version{}, -1, fmt.Errorf("version %s: part %d (%s) is not a number", QuoteValue(s), parts+1, QuoteValue(p))
			}
			nums[parts] = nums[parts]*10 + int(p[i]-'0')
		}
		if !more {
			parts++
			break
		}
		rest = tail
	}
	if parts < 3 {
		return Version{}, -1, fmt.Errorf("version %s: want major.minor.build such as 10.0.19045", QuoteValue(s))
	}
	v = Version{nums[0], nums[1], nums[2]}
	if v.Major == 0 {
		return Version{}, -1, fmt.Errorf("version %s: major version 0 is not a Windows version", QuoteValue(s))
	}
	ubr = -1
	if parts == 4 {
		ubr = nums[3]
	}
	return v, ubr, nil
}

// IsZero reports whether the version is unknown.
func (v Version) IsZero() bool { return v == Version{} }

// String renders "10.0.19045", or "" for the zero Version.
func (v Version) String() string {
	if v.IsZero() {
		return ""
	}
	b := make([]byte, 0, 16)
	b = strconv.AppendInt(b, int64(v.Major), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(v.Minor), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(v.Build), 10)
	return string(b)
}

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than w.
func (v Version) Compare(w Version) int {
	switch {
	case v.Major != w.Major:
		return cmp.Compare(v.Major, w.Major)
	case v.Minor != w.Minor:
		return cmp.Compare(v.Minor, w.Minor)
	default:
		return cmp.Compare(v.Build, w.Build)
	}
}

// Key is an integer that orders like Compare, for storage indexes.
func (v Version) Key() int64 {
	return int64(v.Major)*1_000_000_000_000 + int64(v.Minor)*1_000_000 + int64(v.Build)
}

// Release names a Windows release, per Microsoft's release information
// (https://learn.microsoft.com/windows/release-health/release-information):
// "Windows 10 22H2", "Windows 7 SP1", or "" when the build is not a known one.
func (v Version) Release() string {
	switch {
	case v.Major == 6 && v.Minor == 1 && v.Build == 7601:
		return "Windows 7 SP1"
	case v.Major == 6 && v.Minor == 1:
		return "Windows 7"
	case v.Major == 6 && v.Minor == 3:
		return "Windows 8.1"
	case v.Major == 10 && v.Minor == 0:
		if name, ok := win10Releases[v.Build]; ok {
			return "Windows 10 " + name
		}
		if v.Build >= 22000 {
			return "Windows 11"
		}
	}
	return ""
}

// IsWindows10 reports whether v is a Windows 10 build (10.0.x below 22000).
func (v Version) IsWindows10() bool {
	return v.Major == 10 && v.Minor == 0 && v.Build >= 10240 && v.Build < 22000
}

// win10Releases maps Windows 10 builds to release names.
var win10Releases = map[int]string{
	10240: "1507", 10586: "1511", 14393: "1607", 15063: "1703", 16299: "1709",
	17134: "1803", 17763: "1809", 18362: "1903", 18363: "1909", 19041: "2004",
	19042: "20H2", 19043: "21H1", 19044: "21H2", 19045: "22H2",
}
