# entra-standby-probe: machine
<#
.SYNOPSIS
  Machine identity: computer name, domain, SyncMachineIdentifier (must differ between servers), ADSyncTools versions.
.NOTES
  Sources:
  - HKLM:\SOFTWARE\Microsoft\Azure AD Connect SyncMachineIdentifier (unique per server, application-based auth):
    https://learn.microsoft.com/entra/identity/hybrid/connect/authenticate-application-id
  - Win32_ComputerSystem (Domain, PartOfDomain): https://learn.microsoft.com/windows/win32/cimwin32prov/win32-computersystem
  - Get-Module -ListAvailable ADSyncTools: https://learn.microsoft.com/powershell/module/microsoft.powershell.core/get-module ;
    the module: https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsynctools
  Output: one JSON envelope (docs/contracts.md section 1), data = MachineFacts.
#>
[CmdletBinding()]
param()

#region entra-standby common helpers (probes/helpers/common.ps1, inserted here when the script is loaded)
#endregion entra-standby common helpers

$envelope = New-EsEnvelope -Kind 'probe' -Name 'machine'
try {
    $ErrorActionPreference = 'Stop'
    # Win32_ComputerSystem: https://learn.microsoft.com/windows/win32/cimwin32prov/win32-computersystem
    $system = Get-CimInstance -ClassName Win32_ComputerSystem -ErrorAction Stop
    $computerName = [string]$system.Name
    if ($computerName -eq '') { $computerName = [string]$env:COMPUTERNAME }
    $domain = $null
    if ($system.PartOfDomain) { $domain = [string]$system.Domain }

    # https://learn.microsoft.com/entra/identity/hybrid/connect/authenticate-application-id
    # Missing = null; access denied fails the probe rather than reading as "no identifier".
    $identifier = ConvertTo-EsGuidString -Value (Get-EsRegistryValue -Path 'HKLM:\SOFTWARE\Microsoft\Azure AD Connect' -Name 'SyncMachineIdentifier')

    # https://learn.microsoft.com/powershell/module/microsoft.powershell.core/get-module
    # @() around the call: a function returning one string returns the scalar, and none returns $null, where
    # the contract needs a JSON array.
    $versions = @(Get-EsSortedStrings -Value @(Get-Module -ListAvailable -Name ADSyncTools -ErrorAction Stop |
        ForEach-Object { $_.Version.ToString() } | Select-Object -Unique))
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
