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
    $data = [ordered]@{
        computer_name           = $computerName
        domain                  = $domain
        sync_machine_identifier = $identifier
        adsynctools_versions    = $versions
    }
    $envelope['data'] = $data
    $envelope['ok'] = $true
}
catch {
    $envelope['data'] = $null
    $envelope['error'] = [ordered]@{ kind = (Get-EsErrorKind -ErrorRecord $_); message = [string]$_.Exception.Message }
}
Write-EsEnvelope -Envelope $envelope -Kind 'probe' -Name 'machine'
