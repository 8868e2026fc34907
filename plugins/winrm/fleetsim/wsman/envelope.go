package wsman

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Namespaces of the WS-Management messages Windows exchanges.
const (
	nsSOAP     = "http://www.w3.org/2003/05/soap-envelope"
	nsAddr     = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	nsTransfer = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
	nsWSMan    = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	nsMSWSMan  = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
	nsShell    = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
	nsFault    = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"

	anonymous = nsAddr + "/role/anonymous"

	// ShellURI is the resource URI of the Windows cmd shell.
	ShellURI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
)

// Actions.
const (
	actionCreate         = nsTransfer + "/Create"
	actionCreateResponse = nsTransfer + "/CreateResponse"
	actionDelete         = nsTransfer + "/Delete"
	actionDeleteResponse = nsTransfer + "/DeleteResponse"
	actionCommand        = nsShell + "/Command"
	actionReceive        = nsShell + "/Receive"
	actionSend           = nsShell + "/Send"
	actionSignal         = nsShell + "/Signal"

	stateDone    = nsShell + "/CommandState/Done"
	stateRunning = nsShell + "/CommandState/Running"

	signalTerminate = nsShell + "/signal/terminate"
	signalCtrlC     = nsShell + "/signal/ctrl_c"
	signalCtrlBreak = nsShell + "/signal/ctrl_break"
)

// request is a parsed WS-Management envelope.
type request struct {
	XMLName xml.Name `xml:"http://www.w3.org/2003/05/soap-envelope Envelope"`
	Header  struct {
		To               string     `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing To"`
		Action           string     `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Action"`
		MessageID        string     `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing MessageID"`
		ResourceURI      string     `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd ResourceURI"`
		OperationTimeout string     `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OperationTimeout"`
		Selectors        []selector `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd SelectorSet>Selector"`
		Options          []selector `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OptionSet>Option"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Header"`
	Body struct {
		Shell       *shellBody   `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Shell"`
		CommandLine *commandLine `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell CommandLine"`
		Receive     *receiveBody `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Receive"`
		Send        *sendBody    `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Send"`
		Signal      *signalBody  `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Signal"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
}

type shellBody struct {
	InputStreams  string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell InputStreams"`
	OutputStreams string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell OutputStreams"`
	IdleTimeOut   string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell IdleTimeOut"`
}

type commandLine struct {
	Command   string   `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Command"`
	Arguments []string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Arguments"`
}

type receiveBody struct {
	DesiredStream struct {
		CommandID string `xml:"CommandId,attr"`
		Streams   string `xml:",chardata"`
	} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell DesiredStream"`
}

type sendBody struct {
	Streams []sendStream `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Stream"`
}

type sendStream struct {
	Name      string `xml:"Name,attr"`
	CommandID string `xml:"CommandId,attr"`
	End       string `xml:"End,attr"`
	Data      string `xml:",chardata"`
}

type signalBody struct {
	CommandID string `xml:"CommandId,attr"`
	Code      string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Code"`
}

type selector struct {
	Name  string `xml:"Name,attr"`
	Value string `xml:",chardata"`
}

// parseRequest reads an envelope with the scanner in xmlscan.go. The
// struct tags above document the shape and drive the reference decoder the
// tests compare against (encoding/xml).
func parseRequest(b []byte) (*request, error) {
	root, err := parseXML(string(b))
	if err != nil {
		return nil, err
	}
	if root.space != nsSOAP || root.local != "Envelope" {
		return nil, fmt.Errorf("expected element type <Envelope> in namespace %s but have <%s>", nsSOAP, root.local)
	}
	var r request
	text := func(n *xnode) string {
		if n == nil {
			return ""
		}
		return n.text.String()
	}
	if h := root.child(nsSOAP, "Header"); h != nil {
		r.Header.To = text(h.child(nsAddr, "To"))
		r.Header.Action = text(h.child(nsAddr, "Action"))
		r.Header.MessageID = text(h.child(nsAddr, "MessageID"))
		r.Header.ResourceURI = text(h.child(nsWSMan, "ResourceURI"))
		r.Header.OperationTimeout = text(h.child(nsWSMan, "OperationTimeout"))
		if set := h.child(nsWSMan, "SelectorSet"); set != nil {
			for _, c := range set.children {
				if c.space == nsWSMan && c.local == "Selector" {
					r.Header.Selectors = append(r.Header.Selectors, selector{Name: c.attr("Name"), Value: c.text.String()})
				}
			}
		}
		if set := h.child(nsWSMan, "OptionSet"); set != nil {
			for _, c := range set.children {
				if c.space == nsWSMan && c.local == "Option" {
					r.Header.Options = append(r.Header.Options, selector{Name: c.attr("Name"), Value: c.text.String()})
				}
			}
		}
	}
	if body := root.child(nsSOAP, "Body"); body != nil {
		if n := body.child(nsShell, "Shell"); n != nil {
			r.Body.Shell = &shellBody{InputStreams: text(n.child(nsShell, "InputStreams")),
				OutputStreams: text(n.child(nsShell, "OutputStreams")), IdleTimeOut: text(n.child(nsShell, "IdleTimeOut"))}
		}
		if n := body.child(nsShell, "CommandLine"); n != nil {
			r.Body.CommandLine = &commandLine{Command: text(n.child(nsShell, "Command"))}
			for _, c := range n.children {
				if c.space == nsShell && c.local == "Arguments" {
					r.Body.CommandLine.Arguments = append(r.Body.CommandLine.Arguments, c.text.String())
				}
			}
		}
		if n := body.child(nsShell, "Receive"); n != nil {
			r.Body.Receive = &receiveBody{}
			if d := n.child(nsShell, "DesiredStream"); d != nil {
				r.Body.Receive.DesiredStream.CommandID = d.attr("CommandId")
				r.Body.Receive.DesiredStream.Streams = d.text.String()
			}
		}
		if n := body.child(nsShell, "Send"); n != nil {
			r.Body.Send = &sendBody{}
			for _, c := range n.children {
				if c.space == nsShell && c.local == "Stream" {
					r.Body.Send.Streams = append(r.Body.Send.Streams, sendStream{Name: c.attr("Name"), CommandID: c.attr("CommandId"), End: c.attr("End"), Data: c.text.String()})
				}
			}
		}
		if n := body.child(nsShell, "Signal"); n != nil {
			r.Body.Signal = &signalBody{CommandID: n.attr("CommandId"), Code: text(n.child(nsShell, "Code"))}
		}
	}
	r.Header.Action = strings.TrimSpace(r.Header.Action)
	r.Header.ResourceURI = strings.TrimSpace(r.Header.ResourceURI)
	r.Header.MessageID = strings.TrimSpace(r.Header.MessageID)
	return &r, nil
}

func (r *request) selector(name string) string {
	for _, s := range r.Header.Selectors {
		if strings.EqualFold(s.Name, name) {
			return strings.TrimSpace(s.Value)
		}
	}
	return ""
}

var isoDuration = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// parseDuration reads an xs:duration as WS-Management uses it
// ("PT60S", "PT60.000S", "PT5M0S", "P0DT0H1M0S").
func parseDuration(s string) (time.Duration, error) {
	m := isoDuration.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil || s == "P" || s == "PT" {
		return 0, fmt.Errorf("%q is not an xs:duration", s)
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute} {
		if m[i+1] != "" {
			n, err := strconv.Atoi(m[i+1])
			if err != nil {
				return 0, err
			}
			d += time.Duration(n) * unit
		}
	}
	if m[4] != "" {
		f, err := strconv.ParseFloat(m[4], 64)
		if err != nil {
			return 0, err
		}
		d += time.Duration(f * float64(time.Second))
	}
	return d, nil
}

// formatDuration writes an xs:duration the way Windows does ("PT7200.000S").
func formatDuration(d time.Duration) string {
	return fmt.Sprintf("PT%.3fS", d.Seconds())
}

// esc escapes text for XML content and attributes.
func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// envelopeOpen writes the start of a response envelope and its header.
func envelopeOpen(b *bytes.Buffer, action, messageID, relatesTo string) {
	b.WriteString(`<s:Envelope xml:lang="en-US" xmlns:s="` + nsSOAP + `" xmlns:a="` + nsAddr + `" xmlns:x="` + nsTransfer +
		`" xmlns:w="` + nsWSMan + `" xmlns:rsp="` + nsShell + `" xmlns:p="` + nsMSWSMan + `"><s:Header>`)
	b.WriteString(`<a:Action>` + esc(action) + `</a:Action>`)
	b.WriteString(`<a:MessageID>` + messageID + `</a:MessageID>`)
	b.WriteString(`<a:To>` + anonymous + `</a:To>`)
	if relatesTo != "" {
		b.WriteString(`<a:RelatesTo>` + esc(relatesTo) + `</a:RelatesTo>`)
	}
	b.WriteString(`</s:Header><s:Body>`)
}

func envelopeClose(b *bytes.Buffer) { b.WriteString(`</s:Body></s:Envelope>`) }

// Fault is a WS-Management fault as Windows returns it.
type Fault struct {
	Status  int    // HTTP status (500 for every WS-Management fault)
	Code    string // SOAP code: "s:Sender" or "s:Receiver"
	Subcode string // e.g. "w:InvalidSelectors"
	WSMan   uint32 // WSManFault code, e.g. 2150858843
	Message string
	Action  string // fault action URI (WS-Management or addressing fault)
}

func (f *Fault) Error() string { return fmt.Sprintf("%s (%d): %s", f.Subcode, f.WSMan, f.Message) }

const wsmanFaultAction = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"

func faultShellNotFound(id string) *Fault {
	return &Fault{Status: 500, Code: "s:Sender", Subcode: "w:InvalidSelectors", WSMan: 2150858843, Action: wsmanFaultAction,
		Message: fmt.Sprintf("The request for the Windows Remote Shell with ShellId %s failed because the shell was not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. Provide the correct ShellId or create a new shell and retry the operation.", id)}
}

func faultActionNotSupported(action string) *Fault {
	return &Fault{Status: 500, Code: "s:Sender", Subcode: "a:ActionNotSupported", WSMan: 2150858753, Action: nsAddr + "/fault",
		Message: fmt.Sprintf("The WS-Management service cannot process the request because the WS-Addressing Action URI in the request is not compatible with the resource. Action: %s", action)}
}

func faultSchema(detail string) *Fault {
	return &Fault{Status: 500, Code: "s:Sender", Subcode: "w:SchemaValidationError", WSMan: 2150858817, Action: wsmanFaultAction,
		Message: "The WS-Management service cannot process the request because the XML is invalid. " + detail}
}

func faultResourceURI(uri string) *Fault {
	return &Fault{Status: 500, Code: "s:Sender", Subcode: "w:DestinationUnreachable", WSMan: 2150858752, Action: wsmanFaultAction,
		Message: fmt.Sprintf("The WS-Management service cannot process the request. The resource URI (%s) was not found in the WS-Management catalog.", uri)}
}

func faultTimedOut() *Fault {
	return &Fault{Status: 500, Code: "s:Receiver", Subcode: "w:TimedOut", WSMan: 2150858793, Action: wsmanFaultAction,
		Message: "The WS-Management service cannot complete the operation within the time specified in OperationTimeout."}
}

func faultMaxShells(n int) *Fault {
	return &Fault{Status: 500, Code: "s:Receiver", Subcode: "w:InternalError", WSMan: 2150859173, Action: wsmanFaultAction,
		Message: fmt.Sprintf("The WS-Management service cannot process the request. This user is allowed a maximum number of %d concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user.", n)}
}

func faultMaxOperations(n int) *Fault {
	return &Fault{Status: 500, Code: "s:Receiver", Subcode: "w:InternalError", WSMan: 2150859174, Action: wsmanFaultAction,
		Message: fmt.Sprintf("The WS-Management service cannot process the request. This user is allowed a maximum number of %d concurrent operations, which has been exceeded. Close existing operations for this user, or raise the quota for this user.", n)}
}

func faultCommandNotFound(id string) *Fault {
	return &Fault{Status: 500, Code: "s:Sender", Subcode: "w:InvalidParameter", WSMan: 2150859085, Action: wsmanFaultAction,
		Message: fmt.Sprintf("The WS-Management service cannot process the request because the command with CommandId %s was not found in the shell.", id)}
}

// writeFault renders a fault envelope.
func writeFault(b *bytes.Buffer, f *Fault, messageID, relatesTo, machine string) {
	envelopeOpen(b, f.Action, messageID, relatesTo)
	fmt.Fprintf(b, `<s:Fault><s:Code><s:Value>%s</s:Value><s:Subcode><s:Value>%s</s:Value></s:Subcode></s:Code>`, f.Code, f.Subcode)
	fmt.Fprintf(b, `<s:Reason><s:Text xml:lang="en-US">%s</s:Text></s:Reason>`, esc(f.Message))
	fmt.Fprintf(b, `<s:Detail><f:WSManFault xmlns:f="%s" Code="%d" Machine="%s"><f:Message>%s</f:Message></f:WSManFault></s:Detail></s:Fault>`,
		nsFault, f.WSMan, esc(machine), esc(f.Message))
	envelopeClose(b)
}
