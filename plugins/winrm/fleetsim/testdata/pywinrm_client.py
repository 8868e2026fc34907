"""Drive a simulated device with pywinrm, an independent WinRM client.

Usage: pywinrm_client.py ENDPOINT TRANSPORT USER PASSWORD CA_FILE
Prints one JSON object with what each call returned.
"""
import json
import sys

import winrm

endpoint, transport, user, password, ca = sys.argv[1:6]
kwargs = {"transport": transport, "message_encryption": "never"}
if endpoint.startswith("https"):
    kwargs["server_cert_validation"] = "validate"
    kwargs["ca_trust_path"] = ca
session = winrm.Session(endpoint, auth=(user, password), **kwargs)
out = {}
r = session.run_cmd("hostname")
out["cmd"] = [r.std_out.decode(), r.std_err.decode(), r.status_code]
r = session.run_cmd("cmd", ["/c", "exit", "/b", "4"])
out["exit"] = [r.std_out.decode(), r.std_err.decode(), r.status_code]
r = session.run_ps("(Get-CimInstance Win32_OperatingSystem).Version")
out["ps"] = [r.std_out.decode(), r.std_err.decode(), r.status_code]
print(json.dumps(out))
