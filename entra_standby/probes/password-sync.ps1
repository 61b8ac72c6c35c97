# entra-standby-probe: password-sync
<#
.SYNOPSIS
  Evidence that password hash sync (PHS) and password writeback (PWWB) run on this server: the per-partition PHS state,
  PasswordResetService events and the PHS heartbeat since a given time, and the newest writeback start/stop event of
  any age. The failover drill's proof after a switch (SinceUtc = the switch) and, in the audit batch (MaxEvents 5,
  remoting.AUDIT_PARAMETERS), the facts of the password-hash-sync and password-writeback checks.
.NOTES
  Sources (entra-connect reference section 1.4; probe-review A2):
  - Get-ADSyncPartitionPasswordSyncState: one object per AD partition with ConnectorId, DN,
    PasswordSyncLastSuccessfulCycleStartTimestamp/EndTimestamp, PasswordSyncLastCycleStartTimestamp/EndTimestamp and
    PasswordSyncLastCycleStatus. Property names come from community output: UNCONFIRMED, and the cmdlet is not in
    https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync . On a staging server the
    timestamps stay frozen; after un-staging they move forward within minutes.
  - PasswordResetService events (Application log): 31015 WriteBackServiceStarted, 31016 WriteBackServiceStopped,
    31019 ServiceBusHeartBeat, 31034 ServiceBusListenerError, 32002 ServiceBusError:
    https://learn.microsoft.com/entra/identity/authentication/troubleshoot-sspr-writeback (provider name as the page's
    "source": UNCONFIRMED).
  - PHS heartbeat event 654, source "Directory Synchronization" (Microsoft's PHS troubleshooting script):
    https://learn.microsoft.com/entra/identity/hybrid/connect/tshoot-connect-password-hash-synchronization
  - Get-WinEvent -FilterHashtable (LogName, ProviderName, Id, StartTime) -MaxEvents:
    https://learn.microsoft.com/powershell/module/microsoft.powershell.diagnostics/get-winevent ; when nothing matches
    it writes the error NoMatchingEventsFound, which is read here as "no events", not as a failure.
  - The newest 31015 or 31016 whatever its age (writeback_state_event): the service normally starts with the server,
    days before any SinceUtc window, so "is it listening now" needs the newest start/stop event, not the window's.
    One Get-WinEvent -MaxEvents 1 (newest first), no StartTime.
  SinceUtc: ISO 8601 (e.g. 2026-11-22T03:55:54Z, no offset = UTC); empty = the last 24 hours. MaxEvents: the most
  events read per source, newest first (default 200, the drill's; the audit asks for 5: it judges only the newest
  heartbeat, and every event costs bytes per host). Each of the four parts fails on its own (partitions_error,
  writeback_events_error, phs_events_error, writeback_state_error) and the others stay valid.
  Shapes only a real server can settle are read both ways: timestamps as DateTime or text (ConvertTo-EsUtcString,
  taken as UTC like all MIIS times), the connector id as Guid or text, the partition name as DN or DistinguishedName.
  Output: one JSON envelope (docs/contracts.md section 1), data = PasswordSyncFacts (entra_standby/facts/password_sync.py).
#>
[CmdletBinding()]
param(
    [string]$SinceUtc,
    [int]$MaxEvents = 200
)

#region entra-standby common helpers (probes/helpers/common.ps1, inserted here when the script is loaded)
#endregion entra-standby common helpers

function Add-EsEventRows {
    # The matching Application-log events, newest first (Get-WinEvent's order), appended to Rows.
    # No Since: the whole retained log (Get-WinEvent reads newest first, so -MaxEvents 1 is the newest).
    param($Rows, [string]$Provider, [int[]]$Ids, $Since, [int]$Max)
    $filter = @{ LogName = 'Application'; ProviderName = $Provider; Id = $Ids }
    if ($null -ne $Since) { $filter['StartTime'] = ([datetime]$Since).ToLocalTime() }
    $found = @()
    try {
        $found = @(Get-WinEvent -FilterHashtable $filter -MaxEvents $Max -ErrorAction Stop)
    }
    catch {
        if ([string]$_.FullyQualifiedErrorId -notlike 'NoMatchingEventsFound*') { throw }
    }
    foreach ($entry in $found) {
        if ($null -eq $entry) { continue }
        $message = $null
        # Rendering the message needs the provider's message file; a missing one must not lose the event.
        try { $message = ConvertTo-EsText -Value $entry.Message } catch { $message = $null }
        if ($null -ne $message -and $message.Length -gt 300) { $message = $message.Substring(0, 300) }
        $null = $Rows.Add([ordered]@{
            id       = [int]$entry.Id
            time_utc = ConvertTo-EsUtcString -Value $entry.TimeCreated
            provider = ConvertTo-EsText -Value $entry.ProviderName
            message  = $message
        })
    }
}

$envelope = New-EsEnvelope -Kind 'probe' -Name 'password-sync'
try {
    $ErrorActionPreference = 'Stop'
    Assert-EsFullLanguage
    $since = [datetime]::UtcNow.AddDays(-1)
    if (-not [string]::IsNullOrEmpty($SinceUtc)) {
        $styles = [System.Globalization.DateTimeStyles]::AdjustToUniversal -bor [System.Globalization.DateTimeStyles]::AssumeUniversal
        $parsed = [datetime]::MinValue
        if (-not [datetime]::TryParse($SinceUtc, [System.Globalization.CultureInfo]::InvariantCulture, $styles, [ref]$parsed)) {
            throw ('SinceUtc ''' + $SinceUtc + ''' is not an ISO 8601 date and time')
        }
        $since = $parsed
    }
    if ($MaxEvents -lt 1) { throw ('MaxEvents ' + [string]$MaxEvents + ' must be 1 or more') }
    $data = [ordered]@{
        since_utc              = ConvertTo-EsUtcString -Value $since -AssumeUtc
        partitions             = @()
        partitions_error       = $null
        writeback_events       = @()
        writeback_events_error = $null
        phs_events             = @()
        phs_events_error       = $null
        writeback_state_event  = $null
        writeback_state_error  = $null
    }
    try {
        # https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-staging-server (ADSync module)
        Import-EsADSync
        $rows = New-Object System.Collections.ArrayList
        foreach ($state in @(Get-ADSyncPartitionPasswordSyncState -ErrorAction Stop)) {
            if ($null -eq $state) { continue }
            $null = $rows.Add([ordered]@{
                connector_id                    = ConvertTo-EsGuidString -Value (Get-EsProperty -Object $state -Names @('ConnectorId', 'ConnectorIdentifier'))
                dn                              = ConvertTo-EsText -Value (Get-EsProperty -Object $state -Names @('DN', 'DistinguishedName'))
                last_successful_cycle_start_utc = ConvertTo-EsUtcString -AssumeUtc -Value (Get-EsProperty -Object $state -Names @('PasswordSyncLastSuccessfulCycleStartTimestamp'))
                last_successful_cycle_end_utc   = ConvertTo-EsUtcString -AssumeUtc -Value (Get-EsProperty -Object $state -Names @('PasswordSyncLastSuccessfulCycleEndTimestamp'))
                last_cycle_start_utc            = ConvertTo-EsUtcString -AssumeUtc -Value (Get-EsProperty -Object $state -Names @('PasswordSyncLastCycleStartTimestamp'))
                last_cycle_end_utc              = ConvertTo-EsUtcString -AssumeUtc -Value (Get-EsProperty -Object $state -Names @('PasswordSyncLastCycleEndTimestamp'))
                # [string] on the enum: PS 5.1's ConvertTo-Json writes enums as numbers.
                last_cycle_status               = ConvertTo-EsText -Value (Get-EsProperty -Object $state -Names @('PasswordSyncLastCycleStatus'))
            })
        }
        $data['partitions'] = @($rows.ToArray())
    }
    catch {
        $data['partitions_error'] = [string]$_.Exception.Message
    }
    try {
        $events = New-Object System.Collections.ArrayList
        Add-EsEventRows -Rows $events -Provider 'PasswordResetService' -Ids @(31015, 31016, 31019, 31034, 32002) -Since $since -Max $MaxEvents
        $data['writeback_events'] = @($events.ToArray())
    }
    catch {
        $data['writeback_events_error'] = [string]$_.Exception.Message
    }
    try {
        $events = New-Object System.Collections.ArrayList
        Add-EsEventRows -Rows $events -Provider 'Directory Synchronization' -Ids @(654) -Since $since -Max $MaxEvents
        $data['phs_events'] = @($events.ToArray())
    }
    catch {
        $data['phs_events_error'] = [string]$_.Exception.Message
    }
    try {
        $events = New-Object System.Collections.ArrayList
        Add-EsEventRows -Rows $events -Provider 'PasswordResetService' -Ids @(31015, 31016) -Since $null -Max 1
        if ($events.Count -gt 0) { $data['writeback_state_event'] = $events[0] }
    }
    catch {
        $data['writeback_state_error'] = [string]$_.Exception.Message
    }
    $envelope['data'] = $data
    $envelope['ok'] = $true
}
catch {
    $envelope['data'] = $null
    $envelope['error'] = [ordered]@{ kind = (Get-EsErrorKind -ErrorRecord $_); message = [string]$_.Exception.Message }
}
Write-EsEnvelope -Envelope $envelope -Kind 'probe' -Name 'password-sync'
