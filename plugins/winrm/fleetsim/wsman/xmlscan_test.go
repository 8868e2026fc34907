package wsman

import (
	"encoding/xml"
	"reflect"
	"strings"
	"testing"
)

// referenceParse is the encoding/xml decoding parseRequest must agree with.
func referenceParse(b []byte) (*request, error) {
	var r request
	if err := xml.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	r.XMLName = xml.Name{}
	r.Header.Action = strings.TrimSpace(r.Header.Action)
	r.Header.ResourceURI = strings.TrimSpace(r.Header.ResourceURI)
	r.Header.MessageID = strings.TrimSpace(r.Header.MessageID)
	return &r, nil
}

var corpus = []string{
	sampleCreate, sampleCommand, sampleReceive, sampleSignal, sampleSend,
	// Other prefixes, a default namespace, comments, entities, CDATA, whitespace.
	`<?xml version="1.0"?><!-- c --><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"><s:Header><wsa:Action s:mustUnderstand="true"> http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command </wsa:Action><ResourceURI xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</ResourceURI></s:Header><s:Body><CommandLine xmlns="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><Command>echo &lt;a&gt; &amp; &#x41;&#66; &quot;q&quot;</Command><Arguments><![CDATA[x < y & z]]></Arguments><Arguments>second</Arguments></CommandLine></s:Body></s:Envelope>`,
	`<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>`,
}

func TestScannerAgreesWithEncodingXML(t *testing.T) {
	for i, doc := range corpus {
		want, err := referenceParse([]byte(doc))
		if err != nil {
			t.Fatalf("corpus %d: reference: %v", i, err)
		}
		got, err := parseRequest([]byte(doc))
		if err != nil {
			t.Fatalf("corpus %d: %v", i, err)
		}
		got.XMLName = xml.Name{}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("corpus %d differs:\n got %+v\nwant %+v", i, got, want)
		}
	}
}

func TestScannerRejectsMalformedXML(t *testing.T) {
	for _, bad := range []string{
		"", "<", "not xml", "<a>", "<a></b>", "<a><b></a></b>", "<a x=1/>", `<a x="1" x="2"/>`, `<a x="<"/>`,
		"<a>&bogus;</a>", "<a>&#0;</a>", "<a>&#xD800;</a>", `<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`,
		"<p:a/>", "<a/><b/>", "<a><![CDATA[x</a>", "<a><!-- x</a>", "<a>]]></a>", "<a\xff/>",
	} {
		if _, err := parseXML(bad); err == nil {
			t.Errorf("parseXML(%q) accepted", bad)
		}
	}
}

func FuzzScanner(f *testing.F) {
	for _, doc := range corpus {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		got, err := parseRequest([]byte(doc))
		if err != nil {
			return // refusing is always safe: the client gets a SOAP fault
		}
		want, rerr := referenceParse([]byte(doc))
		if rerr != nil {
			return
		}
		got.XMLName = xml.Name{}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("scanner and encoding/xml disagree on %q:\n got %+v\nwant %+v", doc, got, want)
		}
	})
}

const sampleCreate = `<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">
   <env:Header>
      <a:To>http://localhost:5985/wsman</a:To>
      <a:ReplyTo><a:Address mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>
      <w:MaxEnvelopeSize mustUnderstand="true">153600</w:MaxEnvelopeSize>
      <w:OperationTimeout>PT60S</w:OperationTimeout>
      <a:MessageID>uuid:c0fb2e4a-b066-4649-618b-5897f91acafd</a:MessageID>
      <w:Locale mustUnderstand="false" xml:lang="en-US" />
      <a:Action mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/transfer/Create</a:Action>
      <w:ResourceURI mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</w:ResourceURI>
      <w:OptionSet><w:Option Name="WINRS_NOPROFILE">FALSE</w:Option><w:Option Name="WINRS_CODEPAGE">65001</w:Option></w:OptionSet>
   </env:Header>
   <env:Body><rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell></env:Body>
</env:Envelope>`

const sampleCommand = `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><env:Header><a:Action>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command</a:Action><w:SelectorSet><w:Selector Name="ShellId">0179DFE0-5409-4F07-946E-54635608A269</w:Selector></w:SelectorSet><w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</w:ResourceURI></env:Header><env:Body><rsp:CommandLine><rsp:Command><![CDATA["powershell.exe -EncodedCommand ZGly"]]></rsp:Command></rsp:CommandLine></env:Body></env:Envelope>`

const sampleReceive = `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><env:Header><a:Action>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive</a:Action><w:SelectorSet><w:Selector Name="ShellId">C64C758B</w:Selector></w:SelectorSet></env:Header><env:Body><rsp:Receive><rsp:DesiredStream CommandId="92394CDB-903A">stdout stderr</rsp:DesiredStream></rsp:Receive></env:Body></env:Envelope>`

const sampleSignal = `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><env:Header/><env:Body><rsp:Signal CommandId="98EA8A09"><rsp:Code>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate</rsp:Code></rsp:Signal></env:Body></env:Envelope>`

const sampleSend = `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><env:Body><rsp:Send><rsp:Stream Name="stdin" CommandId="X" End="true">aGVsbG8=</rsp:Stream></rsp:Send></env:Body></env:Envelope>`
