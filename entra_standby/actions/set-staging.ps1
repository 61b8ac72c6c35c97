# entra-standby-action: set-staging
<#
.SYNOPSIS
  Turns staging mode on or off, then returns the scheduler state as re-read after the change.
.NOTES
  Sources (entra-connect reference sections 1.2 and 12):
  - Get-ADSyncGlobalSettings / Set-ADSyncGlobalSettings with parameter Microsoft.Synchronize.StagingMode: NOT in
    Microsoft's ADSync reference; community pattern, UNCONFIRMED as supported. The documented, supported switch is the
    Entra Connect wizard: https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-staging-server
  - The effect is verified by re-reading Get-ADSyncScheduler StagingModeEnabled:
    https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-feature-scheduler
  The caller (the drill) is responsible for ordering: never two un-staged servers.
  Output: one JSON envelope with "action" (docs/contracts.md section 2), data = the scheduler state (SchedulerFacts).
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][bool]$Enabled
)

#region entra-standby common helpers (probes/helpers/common.ps1, inserted here when the script is loaded)
#endregion entra-standby common helpers

$envelope = New-EsEnvelope -Kind 'action' -Name 'set-staging'
try {
    $ErrorActionPreference = 'Stop'
    # https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-staging-server (ADSync module)
    Import-Module -Name ADSync -ErrorAction Stop
    # Community pattern (UNCONFIRMED): the parameter object is edited in place and the whole settings object written back.
    $settings = Get-ADSyncGlobalSettings -ErrorAction Stop
    $parameter = $null
    try { $parameter = $settings.Parameters['Microsoft.Synchronize.StagingMode'] } catch { $parameter = $null }
    if ($null -eq $parameter) {
        foreach ($candidate in $settings.Parameters) {
            if ($null -ne $candidate -and [string]$candidate.Name -eq 'Microsoft.Synchronize.StagingMode') { $parameter = $candidate; break }
        }
    }
    if ($null -eq $parameter) {
        throw 'global setting Microsoft.Synchronize.StagingMode not found on this build'
    }
    $parameter.Value = $Enabled.ToString()   # stored as the text True/False (Boolean.ToString is culture-free)
    # -ErrorAction Stop: a non-terminating write failure must not go on to report success.
    $null = Set-ADSyncGlobalSettings -GlobalSettings $settings -ErrorAction Stop
    $data = Get-EsSchedulerData
    if ($data['staging_mode_enabled'] -ne $Enabled) {
        throw ('staging mode did not change: Get-ADSyncScheduler still reports StagingModeEnabled=' + [string]$data['staging_mode_enabled'])
    }
    $envelope['data'] = $data
    $envelope['ok'] = $true
}
catch {
    $envelope['data'] = $null
    $envelope['error'] = [ordered]@{ kind = (Get-EsErrorKind -ErrorRecord $_); message = [string]$_.Exception.Message }
}
Write-EsEnvelope -Envelope $envelope -Kind 'action' -Name 'set-staging'
