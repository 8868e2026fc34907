// Package device is the simulated Windows machine behind each endpoint of
// the simulated fleet: its OS (caption, edition, build, UBR), installed KBs,
// disk, memory and hardware, pending-reboot flag, setup log, scheduled
// tasks and power state, and the commands it understands. It knows nothing
// of WinRM: the wsman package drives it through Start and the returned
// process, and another transport could do the same.
//
// Time is a Clock: upgrades and reboots take simulated minutes (a feature
// update about 75, with two or three restarts), a ScaledClock runs them
// faster than real time and a ManualClock lets tests step through them.
//
// # Commands
//
// A command line is what cmd.exe receives from a WinRM shell. The
// simulator understands, in cmd form:
//
//	hostname                         the computer name (first DNS label, upper case)
//	echo TEXT                        TEXT
//	exit /b N                        exit code N
//	ver                              "Microsoft Windows [Version 10.0.19045.3803]"
//	reg query "HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion" /v NAME
//	                                 CurrentBuild, CurrentBuildNumber, UBR (REG_DWORD),
//	                                 ProductName, EditionID, DisplayVersion
//	cmd /c COMMAND                   COMMAND
//	powershell.exe [-NoProfile] [-NonInteractive] [-ExecutionPolicy X]
//	    -EncodedCommand BASE64       the script, base64 of UTF-16LE (as WinRM clients send it)
//	    -Command SCRIPT              the script as text
//	setup.exe /Auto Upgrade /Quiet [/NoReboot] [/DynamicUpdate Disable] [/Compat ScanOnly]
//	wusa.exe PATH\KBnnnnnnn.msu /quiet /norestart   or   /extract:DIR
//	DISM /Online /Add-Package /PackagePath:PATH\...KBnnnnnnn....cab [/Quiet] [/NoRestart]
//	DISM /Online /Get-OSUninstallWindow | /Initiate-OSUninstall
//	shutdown /r /t N                 restart after N seconds (at least RestartGrace)
//	schtasks /Create /TN NAME /TR "COMMAND" /SC ONCE /ST HH:MM /RU SYSTEM [/F]
//	schtasks /Run /TN NAME | /Query /TN NAME /FO LIST /V | /Delete /TN NAME /F
//	robocopy SOURCE DEST [options]   copies installation media (a share is refused
//	                                 from a WinRM session: the double hop)
//	bitsadmin /transfer NAME [/download] [/priority P] URL FILE   (refused from WinRM)
//	icacls PATH ...                  accepted; permissions are not modelled
//
// Commands join with &&, ||, & and |, redirect with > FILE, >> FILE,
// 2> FILE, 2>&1 and > nul, and take ^ as an escape, as in cmd.exe. Only
// cmd.exe parses those: a line the WinRM shell runs, or what follows
// cmd.exe /c. A program started otherwise (from PowerShell, Start-Process
// or a scheduled task) is started as CreateProcess starts it and splits
// its command line as the Microsoft C runtime does, so & | < > ^ % in its
// arguments are plain characters (see exec.go). With Spec.AuditProcesses
// the machine records every program started (Processes), and Files lists
// what is on its disk, so tests can check that nothing else ran or was
// written. The disk holds the files tools
// write (scripts, logs, staged media) and survives reboots; D:\ is mounted
// installation media, and setup.exe run by a full path elsewhere must have
// been staged there first.
//
// Anything else answers as cmd.exe does: "'X' is not recognized as an
// internal or external command, operable program or batch file." with exit
// code 9009.
//
// A PowerShell script is statements separated by newlines or ';', each a
// pipeline. Sources: Write-Output, Write-Host, echo, hostname,
// $env:COMPUTERNAME, Get-CimInstance/Get-WmiObject of Win32_OperatingSystem,
// Win32_ComputerSystem, Win32_BIOS, Win32_LogicalDisk (-Filter
// "DeviceID='C:'") and Win32_QuickFixEngineering, Get-ItemProperty and
// Get-ItemPropertyValue of HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion,
// Get-HotFix [-Id KB], Test-Path (the pending-reboot keys
// ...\Component Based Servicing\RebootPending and ...\WindowsUpdate\Auto
// Update\RebootRequired, the setup log, C:\Windows), Get-Content of
// C:\$WINDOWS.~BT\Sources\Panther\setupact.log [-Tail N], Get-PSDrive C and
// Restart-Computer -Force, New-Item, Set-Content, Remove-Item, Expand-Archive
// (a media archive unpacks to media), Get-Content and Test-Path of any file;
// Win32_Battery for laptops (BatteryStatus 1 on battery, 2 on AC);
// (EXPR).Property reads a property. Variables: $x = VALUE where VALUE is a
// literal, a hashtable @{...}, another variable, 'format' -f a, b or a
// pipeline; $x and $x.Name expand outside quotes as one word, and $x and
// $($x.Name) interpolate inside double quotes; powershell -File PATH runs a
// script from the disk. Pipeline stages:
// Select-Object -ExpandProperty P, Select-Object A,B, ConvertTo-Json
// [-Compress] (Windows PowerShell 5.1's layout, dates as \/Date(ms)\/),
// Out-String, Out-Null and Measure-Object. Preference assignments ($ErrorActionPreference
// = ...) are accepted; exit N and exit $LASTEXITCODE end the script; a native
// program from the list above runs and sets $LASTEXITCODE. An unknown command
// writes PowerShell's "The term 'X' is not recognized as the name of a
// cmdlet, function, script file, or operable program..." to stderr. The
// script's exit code is its exit N, else 1 if its last statement failed,
// else 0, as powershell.exe -Command reports it. A native program gets its
// arguments as Windows PowerShell 5.1 passes them: each evaluated argument
// as it is, in double quotes if it holds white space, nothing escaped, and
// no cmd.exe in between; its output lines can go on through pipeline
// stages such as Out-Null.
//
// # Upgrades, patches and reboots
//
// As on real Windows, setup cannot run an upgrade from a WinRM (network
// logon) session, and wusa is refused there with access denied (5): both
// work from a scheduled task running as SYSTEM. DISM /Add-Package works from
// the session. Setup's compatibility scan answers 0xC1900210 (no issues),
// 0xC1900208 (an incompatible app, Behaviour.CompatBlock), 0xC1900204 (an
// LTSB/LTSC edition cannot move to the media's edition) or 0xC190020E (less
// than 20 GB free). A full run stages the upgrade (reboot pending) and, unless
// /NoReboot, restarts; the restart applies it over the offline phases (60%
// of the upgrade time, three restarts in all) and the device comes back on
// the media's build, or, with Behaviour.RollBack, on its old build with
// 0xC1900101 in the setup log. wusa answers 3010 (installed, restart
// required), 2359302 (already installed) or 0x80240017 (not applicable to
// this build). While a machine restarts it is down: the fleet closes its
// listeners and shells; with Behaviour.RebootHangs it never comes back.
// Truth records what really happened: upgrades launched, completed and
// rolled back, KBs installed, restarts.
package device
