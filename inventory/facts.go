package inventory

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Fact names one thing observed about a device (by an import from another
// system of record, or later by probing the device itself).
type Fact int

// The facts Ringmaster keeps. Each is known only once observed: a fact with a
// zero observation time is unknown, whatever its value.
const (
	FactManufacturer Fact = iota
	FactModel
	FactSerial
	FactOSCaption
	FactOSEdition
	FactOSBuild
	FactUBR
	FactKBs
	FactDiskFreeGB
	FactRAMGB
	numFacts
)

var factNames = [numFacts]string{
	"manufacturer", "model", "serial", "os_caption", "os_edition",
	"os_build", "ubr", "kbs", "disk_free_gb", "ram_gb",
}

// AllFacts lists every fact in a stable order.
func AllFacts() []Fact {
	out := make([]Fact, numFacts)
	for i := range out {
		out[i] = Fact(i)
	}
	return out
}

// String is the fact's stable name, as used in files and JSON.
func (f Fact) String() string {
	if f < 0 || f >= numFacts {
		return fmt.Sprintf("fact(%d)", int(f))
	}
	return factNames[f]
}

// FactByName looks a fact up by its stable name.
func FactByName(name string) (Fact, bool) {
	i := slices.Index(factNames[:], name)
	return Fact(i), i >= 0
}

// Facts is what was observed about a device, each value with the time it was
// observed. Observed facts are kept apart from what the operator declared.
type Facts struct {
	Manufacturer string
	Model        string
	Serial       string
	OSCaption    string  // e.g. "Microsoft Windows 10 Enterprise"
	OSEdition    string  // e.g. "Enterprise"
	OSBuild      Version // e.g. 10.0.19045
	UBR          int     // update build revision, e.g. 3803
	KBs          []string
	DiskFreeGB   float64 // free space on the system drive
	RAMGB        float64

	// ObservedAt holds, per fact, when it was observed; zero means unknown.
	ObservedAt [numFacts]time.Time
}

// Known reports whether fact f has been observed.
func (x *Facts) Known(f Fact) bool { return !x.ObservedAt[f].IsZero() }

// Oldest returns the oldest observation time among known facts, or zero.
func (x *Facts) Oldest() time.Time {
	var t time.Time
	for _, at := range x.ObservedAt {
		if !at.IsZero() && (t.IsZero() || at.Before(t)) {
			t = at
		}
	}
	return t
}

// Value renders fact f's value as text ("" when unknown).
func (x *Facts) Value(f Fact) string {
	if !x.Known(f) {
		return ""
	}
	switch f {
	case FactManufacturer:
		return x.Manufacturer
	case FactModel:
		return x.Model
	case FactSerial:
		return x.Serial
	case FactOSCaption:
		return x.OSCaption
	case FactOSEdition:
		return x.OSEdition
	case FactOSBuild:
		return x.OSBuild.String()
	case FactUBR:
		return strconv.Itoa(x.UBR)
	case FactKBs:
		return strings.Join(x.KBs, ";")
	case FactDiskFreeGB:
		return formatFloat(x.DiskFreeGB)
	case FactRAMGB:
		return formatFloat(x.RAMGB)
	}
	return ""
}

// textLimit is the length limit of each free-text fact.
var textLimit = [numFacts]int{
	FactManufacturer: MaxHardwareLen, FactModel: MaxHardwareLen, FactSerial: MaxHardwareLen,
	FactOSCaption: MaxCaptionLen, FactOSEdition: MaxEditionLen,
}

// Set parses text as the value of fact f, observed at the given time. The
// text is validated (free text by CheckText, within its limit); an empty
// string is an error, except for KBs, where it means "observed: none
// installed".
func (x *Facts) Set(f Fact, text string, at time.Time) error {
	text = strings.TrimSpace(text)
	if text == "" && f != FactKBs {
		return fmt.Errorf("empty value")
	}
	if max := textLimit[f]; max > 0 {
		if err := CheckText(text, max); err != nil {
			return fmt.Errorf("%s %w", QuoteValue(text), err)
		}
	}
	switch f {
	case FactManufacturer:
		x.Manufacturer = text
	case FactModel:
		x.Model = text
	case FactSerial:
		x.Serial = text
	case FactOSCaption:
		x.OSCaption = text
	case FactOSEdition:
		x.OSEdition = text
	case FactOSBuild:
		v, ubr, err := ParseVersion(text)
		if err != nil {
			return err
		}
		x.OSBuild = v
		if ubr >= 0 {
			x.UBR = ubr
			x.ObservedAt[FactUBR] = at
		}
	case FactUBR:
		n, err := strconv.Atoi(text)
		if err != nil || n < 0 {
			return fmt.Errorf("%s is not a non-negative whole number", QuoteValue(text))
		}
		x.UBR = n
	case FactKBs:
		kbs, err := ParseKBs(text)
		if err != nil {
			return err
		}
		x.KBs = kbs
	case FactDiskFreeGB, FactRAMGB:
		n, err := strconv.ParseFloat(text, 64)
		if err != nil || n < 0 || n > 1e9 {
			return fmt.Errorf("%s is not a size in GB", QuoteValue(text))
		}
		if f == FactDiskFreeGB {
			x.DiskFreeGB = n
		} else {
			x.RAMGB = n
		}
	default:
		return fmt.Errorf("unknown fact %d", int(f))
	}
	x.ObservedAt[f] = at
	return nil
}

// Merge copies every fact known in newer over x, when newer's observation is
// not older than x's. It reports whether anything changed.
func (x *Facts) Merge(newer *Facts) bool {
	changed := false
	for _, f := range AllFacts() {
		if !newer.Known(f) || newer.ObservedAt[f].Before(x.ObservedAt[f]) {
			continue
		}
		if x.Known(f) && x.ObservedAt[f].Equal(newer.ObservedAt[f]) && x.equalValue(newer, f) {
			continue
		}
		x.copyValue(newer, f)
		x.ObservedAt[f] = newer.ObservedAt[f]
		changed = true
	}
	return changed
}

func (x *Facts) equalValue(y *Facts, f Fact) bool {
	if f == FactKBs {
		return slices.Equal(x.KBs, y.KBs)
	}
	return x.Value(f) == y.Value(f)
}

func (x *Facts) copyValue(y *Facts, f Fact) {
	switch f {
	case FactManufacturer:
		x.Manufacturer = y.Manufacturer
	case FactModel:
		x.Model = y.Model
	case FactSerial:
		x.Serial = y.Serial
	case FactOSCaption:
		x.OSCaption = y.OSCaption
	case FactOSEdition:
		x.OSEdition = y.OSEdition
	case FactOSBuild:
		x.OSBuild = y.OSBuild
	case FactUBR:
		x.UBR = y.UBR
	case FactKBs:
		x.KBs = slices.Clone(y.KBs)
	case FactDiskFreeGB:
		x.DiskFreeGB = y.DiskFreeGB
	case FactRAMGB:
		x.RAMGB = y.RAMGB
	}
}

// HasKB reports whether the KB (e.g. "KB4499175") is among the installed ones.
func (x *Facts) HasKB(kb string) bool {
	_, found := slices.BinarySearch(x.KBs, kb)
	return found
}

// NormaliseKB returns "KB1234567" for "kb1234567" or "1234567".
func NormaliseKB(s string) (string, error) {
	t := strings.TrimSpace(s)
	canonical := false
	if len(t) >= 2 && (t[0] == 'K' || t[0] == 'k') && (t[1] == 'B' || t[1] == 'b') {
		canonical = t[0] == 'K' && t[1] == 'B'
		t = t[2:]
	}
	ok := len(t) >= 6 && len(t) <= 8
	for i := 0; ok && i < len(t); i++ {
		ok = t[i] >= '0' && t[i] <= '9'
	}
	if !ok {
		return "", fmt.Errorf("%s is not a KB number (want KB followed by 6-8 digits)", QuoteValue(s))
	}
	if canonical {
		return strings.TrimSpace(s), nil
	}
	return "KB" + t, nil
}

// ParseKBs parses a list of KB numbers separated by ';', ',' or spaces,
// and returns them normalised, sorted and unique: at most MaxKBs.
func ParseKBs(s string) ([]string, error) {
	var out []string
	for f := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ';' || r == ',' || r == ' ' || r == '\t' }) {
		if len(out) == MaxKBs {
			return nil, fmt.Errorf("lists more than %d updates", MaxKBs)
		}
		kb, err := NormaliseKB(f)
		if err != nil {
			return nil, err
		}
		out = append(out, kb)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
