# entra-standby-action: start-sync-cycle
<#
.SYNOPSIS
  Starts a Delta or Initial sync cycle and returns at once with the scheduler state; the caller polls run history.
.NOTES
  Sources:
  - Start-ADSyncSyncCycle [-PolicyType Unspecified|Delta|Initial] (returns right away; throws when a cycle is running):
    https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync ;
    https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-feature-scheduler
  A busy sync engine is error kind Busy (probe-review A5): Start-ADSyncSyncCycle then writes a non-terminating
  InvalidOperationException "Connector: ... is busy" (community, [BUSY]), which -ErrorAction Stop turns into an error;
  the caller waits and tries again. The scheduler state is read at once, so it usually still shows
  SyncCycleInProgress=False: the caller polls run history (Get-ADSyncRunProfileResult) for the new cycle.
  Output: one JSON envelope with "action" (docs/contracts.md section 2), data = the scheduler state (SchedulerFacts).
#>
[CmdletBinding()]
param(
    [ValidateSet('Delta', 'Initial')][string]$PolicyType = 'Delta'
)

#region entra-standby common helpers (probes/helpers/common.ps1, inserted here when the script is loaded)
#endregion entra-standby common helpers

$envelope = New-EsEnvelope -Kind 'action' -Name 'start-sync-cycle'
try {
    $ErrorActionPreference = 'Stop'
    # https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-staging-server (ADSync module)
    Import-EsADSync
    # https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync
    $null = Start-ADSyncSyncCycle -PolicyType $PolicyType -ErrorAction Stop
    $data = Get-EsSchedulerData
    $envelope['data'] = $data
    $envelope['ok'] = $true
}
catch {
    $envelope['data'] = $null
    $envelope['error'] = [ordered]@{ kind = (Get-EsActionErrorKind -ErrorRecord $_); message = [string]$_.Exception.Message }
}
Write-EsEnvelope -Envelope $envelope -Kind 'action' -Name 'start-sync-cycle'
