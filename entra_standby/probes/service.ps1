# entra-standby-probe: service
<#
.SYNOPSIS
  The sync engine's Windows service: existence, status, start mode, delayed start and logon account.
.NOTES
  Sources:
  - The service is named ADSync: https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-staging-server
  - Get-Service: https://learn.microsoft.com/powershell/module/microsoft.powershell.management/get-service
  - Win32_Service (StartMode, StartName): https://learn.microsoft.com/windows/win32/cimwin32prov/win32-service
    read with Get-CimInstance: https://learn.microsoft.com/powershell/module/cimcmdlets/get-ciminstance
  - DelayedAutostart value under HKLM:\SYSTEM\CurrentControlSet\Services\<name> (how Windows registers services):
    https://learn.microsoft.com/troubleshoot/windows-server/performance/windows-registry-advanced-users
  Output: one JSON envelope (docs/contracts.md section 1), data = ServiceFacts.
#>
[CmdletBinding()]
param(
    [string]$ServiceName = 'ADSync'
)

#region entra-standby common helpers (probes/helpers/common.ps1, inserted here when the script is loaded)
#endregion entra-standby common helpers

$envelope = New-EsEnvelope -Kind 'probe' -Name 'service'
try {
    $ErrorActionPreference = 'Stop'
    Assert-EsFullLanguage
    $data = [ordered]@{
        name = $ServiceName; exists = $false; status = $null; start_mode = $null; delayed_auto_start = $null; account = $null
    }
    # Get-Service: https://learn.microsoft.com/powershell/module/microsoft.powershell.management/get-service
    # SilentlyContinue would turn every failure into "no such service"; only NoServiceFoundForGivenName means
    # that, anything else (e.g. the service control manager refusing access) fails the probe. -Name takes
    # wildcards, so at most the first match is used: one object, never an array serialised as one.
    $serviceErrors = $null
    $service = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue -ErrorVariable serviceErrors | Select-Object -First 1
    foreach ($serviceError in @($serviceErrors)) {
        if ($null -ne $serviceError -and [string]$serviceError.FullyQualifiedErrorId -notlike 'NoServiceFoundForGivenName*') {
            throw $serviceError
        }
    }
    if ($null -ne $service) {
        $data['name'] = [string]$service.Name
        $data['exists'] = $true
        $data['status'] = [string]$service.Status
        # Win32_Service: https://learn.microsoft.com/windows/win32/cimwin32prov/win32-service
        # One instance by WQL filter, not every service on the host (probe-review SV2). The name is the one
        # Get-Service returned (the real service name, not the parameter), with quotes doubled for WQL.
        $filter = "Name='" + ([string]$service.Name -replace "'", "''") + "'"
        $cim = Get-CimInstance -ClassName Win32_Service -Filter $filter -ErrorAction Stop | Select-Object -First 1
        if ($null -ne $cim) {
            $data['start_mode'] = [string]$cim.StartMode
            $data['account'] = [string]$cim.StartName
        }
        # HKLM:\SYSTEM\CurrentControlSet\Services\<name> DelayedAutostart (DWORD 1 = delayed):
        # https://learn.microsoft.com/troubleshoot/windows-server/performance/windows-registry-advanced-users
        $serviceKey = Join-Path -Path 'HKLM:\SYSTEM\CurrentControlSet\Services' -ChildPath $service.Name
        $delayed = Get-EsRegistryValue -Path $serviceKey -Name 'DelayedAutostart'
        if ($null -ne $delayed) {
            $data['delayed_auto_start'] = ([int]$delayed -eq 1)
        }
        elseif ($data['start_mode'] -eq 'Auto') {
            $data['delayed_auto_start'] = $false
        }
    }
    $envelope['data'] = $data
    $envelope['ok'] = $true
}
catch {
    $envelope['data'] = $null
    $envelope['error'] = [ordered]@{ kind = (Get-EsErrorKind -ErrorRecord $_); message = [string]$_.Exception.Message }
}
Write-EsEnvelope -Envelope $envelope -Kind 'probe' -Name 'service'
