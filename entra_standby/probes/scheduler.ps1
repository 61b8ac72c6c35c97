# entra-standby-probe: scheduler
<#
.SYNOPSIS
  Scheduler state of the sync engine: intervals (seconds), next cycle, the staging flag and the cycle switches.
.NOTES
  Sources:
  - Get-ADSyncScheduler properties: https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-feature-scheduler
  - ADSync module and cmdlet reference: https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync
  Output: one JSON envelope (docs/contracts.md section 1), data = SchedulerFacts.
#>
[CmdletBinding()]
param()

#region entra-standby common helpers (probes/helpers/common.ps1, inserted here when the script is loaded)
#endregion entra-standby common helpers

$envelope = New-EsEnvelope -Kind 'probe' -Name 'scheduler'
try {
    $ErrorActionPreference = 'Stop'
    Assert-EsFullLanguage
    # ADSync module ships with Entra Connect and runs on the sync server itself:
    # https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-staging-server
    Import-EsADSync
    $data = Get-EsSchedulerData
    $envelope['data'] = $data
    $envelope['ok'] = $true
}
catch {
    $envelope['data'] = $null
    $envelope['error'] = [ordered]@{ kind = (Get-EsErrorKind -ErrorRecord $_); message = [string]$_.Exception.Message }
}
Write-EsEnvelope -Envelope $envelope -Kind 'probe' -Name 'scheduler'
