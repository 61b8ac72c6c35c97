# entra-standby-probe: machine
<#
.SYNOPSIS
  Machine identity: computer name, domain, SyncMachineIdentifier (must differ between servers), ADSyncTools versions.
.NOTES
  Sources:
  - HKLM:\SOFTWARE\Microsoft\Azure AD Connect SyncMachineIdentifier (unique per server, application-based auth):
    https://learn.microsoft.com/entra/identity/hybrid/connect/authenticate-application-id
  - Win32_ComputerSystem (Domain, PartOfDomain): https://learn.microsoft.com/windows/win32/cimwin32prov/win32-computersystem
  - SyncMachineIdentifier in the 'N' form (32 hex digits): Microsoft's ABA troubleshooting writes
    [Guid]::NewGuid().ToString("N") and derives Sync_<server>_<first 12 characters>; the probe reports the 'D' form
    (https://learn.microsoft.com/entra/identity/hybrid/connect/authenticate-application-id ;
    [guid]::TryParse: https://learn.microsoft.com/dotnet/api/system.guid.tryparse).
  - Get-Module -ListAvailable ADSyncTools: https://learn.microsoft.com/powershell/module/microsoft.powershell.core/get-module ;
    the module: https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsynctools
  - ADSyncTools installed for another user (Install-Module -Scope CurrentUser puts it under that user's
    Documents\WindowsPowerShell\Modules: https://learn.microsoft.com/powershell/module/powershellget/install-module)
    and the 1.x copy shipped with the product, imported as
    "C:\Program Files\Microsoft Azure Active Directory Connect\Tools\AdSyncTools.psm1"
    (https://learn.microsoft.com/entra/identity/hybrid/connect/tshoot-connect-tshoot-sql-connectivity).
  - Proxy: "If you use a proxy ... add the following section to %windir%\Microsoft.NET\Framework64\v4.0.30319\
    Config\machine.config" (<system.net><defaultProxy enabled useDefaultCredentials><proxy usesystemdefault
    proxyaddress bypassonlocal/></defaultProxy>): https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-install-prerequisites ;
    the schema: https://learn.microsoft.com/dotnet/framework/configure-apps/file-schema/network/defaultproxy-element-network-settings
  - WinHTTP proxy (netsh winhttp set proxy): https://learn.microsoft.com/windows/win32/winhttp/netsh-exe-commands ;
    stored as the REG_BINARY WinHttpSettings under HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet
    Settings\Connections. Its layout (DWORD size, DWORD change counter, DWORD flags, DWORD length + proxy, DWORD
    length + bypass list) is community knowledge: UNCONFIRMED; netsh's own output is localised text, so the probe
    reads the value and reports what it could not decode (winhttp_error) rather than guessing.
  - Connect Health agent for sync: the services "Microsoft Entra Connect Health Sync Insights Service"
    (AzureADConnectHealthSyncInsights) and "... Sync Monitoring Service" (AzureADConnectHealthSyncMonitor), as the
    agent installation page lists them for sync:
    https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-health-agent-install ;
    Win32_Service (State, StartMode, PathName): https://learn.microsoft.com/windows/win32/cimwin32prov/win32-service ;
    the agent version is the service binary's ProductVersion (UNCONFIRMED as *the* agent version: community
    practice; the uninstall entry's name is not relied on). Read on its own (health_agent_error); never fails
    the machine facts.
  Output: one JSON envelope (docs/contracts.md section 1), data = MachineFacts.
#>
[CmdletBinding()]
param()

#region entra-standby common helpers (probes/helpers/common.ps1, inserted here when the script is loaded)
#endregion entra-standby common helpers

function ConvertTo-EsDashedGuid {
    # The 'D' form of a GUID written in any form [guid]::TryParse reads (N, D, B, P); other text unchanged.
    param($Value)
    $text = ConvertTo-EsGuidString -Value $Value
    if ($null -eq $text) { return $null }
    $parsed = [guid]::Empty
    if ([guid]::TryParse($text, [ref]$parsed)) { return $parsed.ToString('D') }
    return $text
}

function Get-EsOtherAdSyncToolsVersions {
    # ADSyncTools that Get-Module -ListAvailable does not see from this session: installed by another admin with
    # -Scope CurrentUser, or the 1.x script module shipped in the product's Tools folder (reported as '1.x').
    # A profile this account may not read is skipped: the module list then says what this session can see,
    # as it did before this search.
    $found = New-Object 'System.Collections.Generic.List[string]'
    $users = Join-Path -Path $env:SystemDrive -ChildPath 'Users'
    $profiles = @()
    try { $profiles = @(Get-ChildItem -LiteralPath $users -Directory -ErrorAction Stop) } catch { $profiles = @() }
    foreach ($userProfile in $profiles) {
        $moduleDir = Join-Path -Path $userProfile.FullName -ChildPath 'Documents\WindowsPowerShell\Modules\ADSyncTools'
        try {
            foreach ($dir in @(Get-ChildItem -LiteralPath $moduleDir -Directory -ErrorAction Stop)) {
                $version = $null
                if ([version]::TryParse([string]$dir.Name, [ref]$version)) { $found.Add($version.ToString()) }
            }
        }
        catch {
            $null = $_   # no such folder, or not readable by this account
        }
    }
    $legacy = Join-Path -Path $env:ProgramFiles -ChildPath 'Microsoft Azure Active Directory Connect\Tools\AdSyncTools.psm1'
    if (Test-Path -LiteralPath $legacy -PathType Leaf) { $found.Add('1.x') }
    return $found.ToArray()
}

function Get-EsMachineConfigProxy {
    # machine.config <system.net><defaultProxy> of the 64-bit .NET 4 runtime the sync service runs in.
    $out = [ordered]@{ default_proxy_found = $false; default_proxy_enabled = $null; proxy_address = $null
                       use_system_default = $null; bypass_on_local = $null; bypass_list = @() }
    $path = Join-Path -Path $env:windir -ChildPath 'Microsoft.NET\Framework64\v4.0.30319\Config\machine.config'
    $document = New-Object System.Xml.XmlDocument
    $document.Load($path)
    $node = $document.SelectSingleNode('/configuration/system.net/defaultProxy')
    if ($null -eq $node) { return $out }
    $out['default_proxy_found'] = $true
    $out['default_proxy_enabled'] = ConvertTo-EsText -Value $node.GetAttribute('enabled')
    $proxy = $node.SelectSingleNode('proxy')
    if ($null -ne $proxy) {
        $out['proxy_address'] = ConvertTo-EsText -Value $proxy.GetAttribute('proxyaddress')
        $out['use_system_default'] = ConvertTo-EsText -Value $proxy.GetAttribute('usesystemdefault')
        $out['bypass_on_local'] = ConvertTo-EsText -Value $proxy.GetAttribute('bypassonlocal')
    }
    $out['bypass_list'] = @(Get-EsSortedStrings -Value @($node.SelectNodes('bypasslist/add') |
        ForEach-Object { $_.GetAttribute('address') }))
    return $out
}

function Get-EsWinHttpProxy {
    # The machine-wide WinHTTP proxy; no value = direct access (netsh winhttp reset proxy).
    $out = [ordered]@{ winhttp_proxy = $null; winhttp_bypass = $null }
    $raw = @(Get-EsRegistryValue -Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections' -Name 'WinHttpSettings')
    if ($raw.Count -eq 0 -or $null -eq $raw[0]) { return $out }
    $bytes = [byte[]]$raw
    if ($bytes.Length -lt 16) { throw ('WinHttpSettings has ' + [string]$bytes.Length + ' bytes, expected at least 16') }
    $flags = [BitConverter]::ToInt32($bytes, 8)
    $proxyLength = [BitConverter]::ToInt32($bytes, 12)
    if ($proxyLength -lt 0 -or 16 + $proxyLength + 4 -gt $bytes.Length) {
        throw ('WinHttpSettings layout not recognised (flags ' + [string]$flags + ', proxy length ' + [string]$proxyLength + ')')
    }
    $proxyText = [System.Text.Encoding]::ASCII.GetString($bytes, 16, $proxyLength)
    $bypassLength = [BitConverter]::ToInt32($bytes, 16 + $proxyLength)
    $bypassText = ''
    if ($bypassLength -gt 0 -and 20 + $proxyLength + $bypassLength -le $bytes.Length) {
        $bypassText = [System.Text.Encoding]::ASCII.GetString($bytes, 20 + $proxyLength, $bypassLength)
    }
    # Flag 2 (PROXY_TYPE_PROXY) set = a named proxy; otherwise direct access whatever text is left behind.
    if (($flags -band 2) -ne 0 -and $proxyText -ne '') {
        $out['winhttp_proxy'] = $proxyText
        $out['winhttp_bypass'] = ConvertTo-EsText -Value $bypassText
    }
    return $out
}

$envelope = New-EsEnvelope -Kind 'probe' -Name 'machine'
try {
    $ErrorActionPreference = 'Stop'
    Assert-EsFullLanguage
    # Win32_ComputerSystem: https://learn.microsoft.com/windows/win32/cimwin32prov/win32-computersystem
    $system = Get-CimInstance -ClassName Win32_ComputerSystem -ErrorAction Stop
    $computerName = [string]$system.Name
    if ($computerName -eq '') { $computerName = [string]$env:COMPUTERNAME }
    $domain = $null
    if ($system.PartOfDomain) { $domain = [string]$system.Domain }

    # https://learn.microsoft.com/entra/identity/hybrid/connect/authenticate-application-id
    # Missing = null; access denied fails the probe rather than reading as "no identifier".
    $identifier = ConvertTo-EsDashedGuid -Value (Get-EsRegistryValue -Path 'HKLM:\SOFTWARE\Microsoft\Azure AD Connect' -Name 'SyncMachineIdentifier')

    # https://learn.microsoft.com/powershell/module/microsoft.powershell.core/get-module
    # @() around the call: a function returning one string returns the scalar, and none returns $null, where
    # the contract needs a JSON array.
    $listed = @(Get-Module -ListAvailable -Name ADSyncTools -ErrorAction Stop | ForEach-Object { $_.Version.ToString() })
    $versions = @(Get-EsSortedStrings -Value @(@($listed) + @(Get-EsOtherAdSyncToolsVersions) | Select-Object -Unique))
    # Each proxy read on its own: one that fails is reported in its *_error and leaves the rest standing.
    $proxy = [ordered]@{ machine_config_error = $null; winhttp_error = $null }
    try {
        $read = Get-EsMachineConfigProxy
        foreach ($key in $read.Keys) { $proxy[$key] = $read[$key] }
    }
    catch {
        $proxy['machine_config_error'] = [string](Get-EsErrorKind -ErrorRecord $_) + ': ' + [string]$_.Exception.Message
    }
    try {
        $read = Get-EsWinHttpProxy
        foreach ($key in $read.Keys) { $proxy[$key] = $read[$key] }
    }
    catch {
        $proxy['winhttp_error'] = [string](Get-EsErrorKind -ErrorRecord $_) + ': ' + [string]$_.Exception.Message
    }
    $healthAgent = New-Object System.Collections.ArrayList
    $healthAgentError = $null
    try {
        foreach ($serviceName in @('AzureADConnectHealthSyncInsights', 'AzureADConnectHealthSyncMonitor')) {
            $entry = [ordered]@{ name = $serviceName; exists = $false; state = $null; start_mode = $null; version = $null }
            # One instance by WQL filter (probe-review SV2); the names are constants.
            $cim = Get-CimInstance -ClassName Win32_Service -Filter ("Name='" + $serviceName + "'") -ErrorAction Stop |
                Select-Object -First 1
            if ($null -ne $cim) {
                $entry['exists'] = $true
                $entry['state'] = [string]$cim.State
                $entry['start_mode'] = [string]$cim.StartMode
                $binaryPath = [string]$cim.PathName
                $closing = $binaryPath.IndexOf('"', 1)
                if ($binaryPath.StartsWith('"', [System.StringComparison]::Ordinal) -and $closing -gt 1) {
                    $binaryPath = $binaryPath.Substring(1, $closing - 1)
                }
                if ($binaryPath -ne '' -and (Test-Path -LiteralPath $binaryPath -PathType Leaf)) {
                    $entry['version'] = ConvertTo-EsText -Value (Get-Item -LiteralPath $binaryPath).VersionInfo.ProductVersion
                }
            }
            [void]$healthAgent.Add($entry)
        }
    }
    catch {
        $healthAgentError = [string](Get-EsErrorKind -ErrorRecord $_) + ': ' + [string]$_.Exception.Message
    }
    $data = [ordered]@{
        computer_name           = $computerName
        domain                  = $domain
        sync_machine_identifier = $identifier
        adsynctools_versions    = $versions
        proxy                   = $proxy
        health_agent            = [ordered]@{ services = @($healthAgent); error = $healthAgentError }
    }
    $envelope['data'] = $data
    $envelope['ok'] = $true
}
catch {
    $envelope['data'] = $null
    $envelope['error'] = [ordered]@{ kind = (Get-EsErrorKind -ErrorRecord $_); message = [string]$_.Exception.Message }
}
Write-EsEnvelope -Envelope $envelope -Kind 'probe' -Name 'machine'
