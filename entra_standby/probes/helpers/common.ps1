# Helper functions shared by every entra-standby probe and action (Windows PowerShell 5.1). Defining a function has
# no side effect, so every script carries all of them and calls the ones it needs.

function Get-EsErrorKind {
    # Maps an ErrorRecord onto the contract's error kinds: CommandNotFound, AccessDenied, NotInstalled, Failed,
    # ConstrainedLanguage.
    param($ErrorRecord)
    # Checked first: in ConstrainedLanguage (WDAC/AppLocker-hardened servers, probe-review X3) the type tests
    # below may fail themselves, and every failure there has this one cause.
    if ([string]$ExecutionContext.SessionState.LanguageMode -ne 'FullLanguage') {
        return 'ConstrainedLanguage'
    }
    $exception = $ErrorRecord.Exception
    $category = [string]$ErrorRecord.CategoryInfo.Category
    $errorId = [string]$ErrorRecord.FullyQualifiedErrorId
    if ($exception -is [System.Management.Automation.CommandNotFoundException] -or $errorId -like 'Modules_ModuleNotFound*') {
        return 'CommandNotFound'
    }
    if ($category -eq 'NotInstalled') {
        return 'NotInstalled'
    }
    if ($category -eq 'PermissionDenied' -or $category -eq 'SecurityError') {
        return 'AccessDenied'
    }
    # A failing .NET or COM method call (IUpdateSearcher.QueryHistory over WinRM) surfaces in PS 5.1 as a
    # MethodInvocationException whose own HResult is COR_E_TARGETINVOCATION; the UnauthorizedAccessException or
    # COMException 0x80070005 (E_ACCESSDENIED) that says "access denied" is an InnerException, so walk the chain.
    $depth = 0
    while ($null -ne $exception -and $depth -lt 10) {
        if ($exception -is [System.UnauthorizedAccessException] -or $exception -is [System.Security.SecurityException] -or
            $exception.HResult -eq -2147024891) {
            return 'AccessDenied'
        }
        $exception = $exception.InnerException
        $depth++
    }
    return 'Failed'
}

function Assert-EsFullLanguage {
    # The probes call .NET and COM methods (RegistryKey.GetValue, IUpdateSearcher, SHA256) that a session in
    # ConstrainedLanguage refuses one by one, or, where a probe tolerates a failure, silently turns into a
    # missing value (probe-review X3). So a probe refuses to start there, with one reason that names the cause.
    # about_Language_Modes: https://learn.microsoft.com/powershell/module/microsoft.powershell.core/about/about_language_modes
    $mode = [string]$ExecutionContext.SessionState.LanguageMode
    if ($mode -ne 'FullLanguage') {
        throw ('this remote session runs in ' + $mode + ' mode (WDAC/AppLocker policy or a restricted endpoint); ' +
               'the probes need FullLanguage: connect to an endpoint that runs in FullLanguage for the audit account')
    }
}

function Import-EsADSync {
    # Import-Module ADSync by name is what Microsoft documents (how-to-connect-sync-feature-scheduler), but a
    # session whose environment predates the install, or an install on another drive, may not find it on
    # PSModulePath (probe-review X1). Microsoft's own scripts then resolve the install folder from the service's
    # Parameters\Path value and import Bin\ADSync\ADSync.psd1 from there (probe-review [MSFT-SCRIPT], [GIST]).
    # Import-Module: https://learn.microsoft.com/powershell/module/microsoft.powershell.core/import-module
    try {
        Import-Module -Name ADSync -ErrorAction Stop
    }
    catch {
        $byName = $_
        $folder = Get-EsRegistryValue -Path 'HKLM:\SYSTEM\CurrentControlSet\Services\ADSync\Parameters' -Name 'Path'
        if ([string]$folder -eq '') { throw $byName }
        $manifest = Join-Path -Path ([string]$folder) -ChildPath 'Bin\ADSync\ADSync.psd1'
        if (-not (Test-Path -LiteralPath $manifest)) { throw $byName }
        Import-Module -Name $manifest -ErrorAction Stop
    }
}

function New-EsNotInstalledError {
    # An ErrorRecord in category NotInstalled, so Get-EsErrorKind reports NotInstalled.
    param([string]$Message)
    $exception = New-Object System.InvalidOperationException -ArgumentList $Message
    return New-Object System.Management.Automation.ErrorRecord -ArgumentList @(
        $exception, 'EntraStandby.NotInstalled', [System.Management.Automation.ErrorCategory]::NotInstalled, $null)
}

function New-EsRefusal {
    # An ErrorRecord for an action that refuses on purpose before it writes; Get-EsActionErrorKind reports Kind
    # (Busy, Suspended, Conflict: docs/contracts.md section 2).
    param([string]$Kind, [string]$Message)
    $exception = New-Object System.InvalidOperationException -ArgumentList $Message
    return New-Object System.Management.Automation.ErrorRecord -ArgumentList @(
        $exception, ('EntraStandby.' + $Kind), [System.Management.Automation.ErrorCategory]::InvalidOperation, ('EntraStandby.' + $Kind))
}

function Get-EsActionErrorKind {
    # The error kind of an action: its own refusals (New-EsRefusal), a busy sync engine, else Get-EsErrorKind.
    # Busy: Start-ADSyncSyncCycle's InvalidOperationException "Connector: ... is busy" (community, probe-review
    # [BUSY]); "already running" covers the other wording reported for a cycle in progress (UNCONFIRMED).
    param($ErrorRecord)
    foreach ($marker in @([string]$ErrorRecord.FullyQualifiedErrorId, [string]$ErrorRecord.TargetObject)) {
        foreach ($kind in @('Busy', 'Suspended', 'Conflict')) {
            if ($marker -eq ('EntraStandby.' + $kind)) { return $kind }
        }
    }
    $message = [string]$ErrorRecord.Exception.Message
    if ($message -match 'is busy' -or $message -match 'already running') {
        return 'Busy'
    }
    return Get-EsErrorKind -ErrorRecord $ErrorRecord
}

function ConvertTo-EsUtcString {
    # DateTime -> ISO 8601 UTC with seven fractional digits and Z; $null for missing or unparsable values.
    # -AssumeUtc: values that are documented as UTC but may carry DateTimeKind.Unspecified.
    param($Value, [switch]$AssumeUtc)
    if ($null -eq $Value) { return $null }
    if ($Value -is [System.DateTimeOffset]) { return $Value.UtcDateTime.ToString('o') }
    if ($Value -isnot [datetime]) {
        $parsed = [datetime]::MinValue
        $styles = [System.Globalization.DateTimeStyles]::AssumeUniversal
        if (-not [datetime]::TryParse([string]$Value, [System.Globalization.CultureInfo]::InvariantCulture, $styles, [ref]$parsed)) {
            return $null
        }
        $Value = $parsed
    }
    if ($Value -eq [datetime]::MinValue) { return $null }
    if ($AssumeUtc -and $Value.Kind -eq [System.DateTimeKind]::Unspecified) {
        $Value = [datetime]::SpecifyKind($Value, [System.DateTimeKind]::Utc)
    }
    return $Value.ToUniversalTime().ToString('o')
}

function ConvertTo-EsSeconds {
    # TimeSpan (or its string form) -> seconds as a number; $null when empty.
    param($Value)
    if ($null -eq $Value -or [string]$Value -eq '') { return $null }
    if ($Value -is [timespan]) { return $Value.TotalSeconds }
    return ([timespan]::Parse([string]$Value, [System.Globalization.CultureInfo]::InvariantCulture)).TotalSeconds
}

function ConvertTo-EsGuidString {
    # GUIDs are lower case without braces. [string] on a [guid] gives the 'D' form: PS 5.1's ConvertTo-Json would
    # otherwise write a PSObject-wrapped [guid] as an object, so no GUID reaches the envelope unconverted.
    param($Value)
    if ($null -eq $Value) { return $null }
    # A GUID stored as 16 raw bytes (REG_BINARY, AD octet strings): [string] would join the bytes with spaces.
    if ($Value -is [byte[]] -and $Value.Length -eq 16) { $Value = New-Object System.Guid -ArgumentList (,$Value) }
    if ([string]$Value -eq '') { return $null }
    return ([string]$Value).Trim().Trim('{', '}').ToLowerInvariant()
}

function ConvertTo-EsBool {
    # bool, 'True'/'False', 1/0 -> bool; anything else -> $null.
    param($Value)
    if ($null -eq $Value) { return $null }
    if ($Value -is [bool]) { return $Value }
    $text = ([string]$Value).Trim()
    if ($text -eq 'True' -or $text -eq '1') { return $true }
    if ($text -eq 'False' -or $text -eq '0') { return $false }
    return $null
}

function Get-EsProperty {
    # The first non-empty property among Names: several property names are UNCONFIRMED and differ by build.
    param($Object, [string[]]$Names)
    if ($null -eq $Object) { return $null }
    foreach ($name in $Names) {
        $property = $Object.PSObject.Properties[$name]
        if ($null -ne $property -and $null -ne $property.Value -and [string]$property.Value -ne '') {
            return $property.Value
        }
    }
    return $null
}

function Get-EsRequiredBool {
    # A true/false property the contract cannot do without (the staging flag above all). There is no
    # Set-StrictMode, so a property missing on this build (or misspelt here) reads as $null, and [bool]$null is
    # $false while [bool]'False' is $true: either would report a wrong flag instead of failing. Source names
    # the cmdlet in the error message.
    param($Object, [string]$Name, [string]$Source)
    $value = $null
    if ($null -ne $Object -and $null -ne $Object.PSObject.Properties[$Name]) {
        $value = ConvertTo-EsBool -Value $Object.PSObject.Properties[$Name].Value
    }
    if ($null -eq $value) {
        throw ($Source + ' returned no true/false ' + $Name + ' property')
    }
    return $value
}

function Get-EsRegistryValue {
    # One registry value, or $null when its key or the value itself does not exist. Get-ItemProperty -Name
    # throws on a missing value under -ErrorAction Stop, and with -ErrorAction SilentlyContinue it also turns
    # "access denied" into $null, a false "Not Found". RegistryKey.GetValue returns $null only for a missing
    # value; every other failure reaches the caller. A REG_MULTI_SZ comes back as separate strings (function
    # output is unrolled): callers that need all of them wrap the call in @().
    param([string]$Path, [string]$Name)
    $key = $null
    try {
        # Get-Item on the registry provider returns a Microsoft.Win32.RegistryKey:
        # https://learn.microsoft.com/powershell/module/microsoft.powershell.management/get-item
        $key = Get-Item -LiteralPath $Path -ErrorAction Stop
    }
    catch [System.Management.Automation.ItemNotFoundException] {
        return $null
    }
    try {
        return $key.GetValue($Name, $null)
    }
    finally {
        $key.Close()
    }
}

function Get-EsNamedValue {
    # .Value of the item called Name in a keyed collection (ConnectivityParameters, GlobalSettings.Parameters);
    # falls back to enumerating when the collection has no string indexer.
    param($Collection, [string]$Name)
    if ($null -eq $Collection) { return $null }
    $item = $null
    try { $item = $Collection[$Name] } catch { $item = $null }
    if ($null -ne $item) {
        if ($null -ne $item.PSObject.Properties['Value']) { return $item.Value }
        if ($item -is [string] -or $item -is [System.ValueType]) { return $item }
    }
    foreach ($candidate in $Collection) {
        if ($null -ne $candidate -and [string]$candidate.Name -eq $Name) { return $candidate.Value }
    }
    return $null
}

function Get-EsSortedStrings {
    # Non-empty strings, ordinal-sorted (culture-independent, so both servers sort alike). Emits items:
    # callers wrap the call in @() to get an array.
    param($Value)
    $out = New-Object 'System.Collections.Generic.List[string]'
    foreach ($item in @($Value)) {
        if ($null -ne $item -and [string]$item -ne '') { $out.Add([string]$item) }
    }
    $sorted = $out.ToArray()
    [Array]::Sort($sorted, [System.StringComparer]::Ordinal)
    return $sorted
}

function New-EsEnvelope {
    # The envelope of docs/contracts.md (Kind 'probe' or 'action'), failed until the script says otherwise.
    param([string]$Kind, [string]$Name)
    $envelope = [ordered]@{}
    $envelope[$Kind] = $Name
    $envelope['schema'] = 1
    $envelope['ok'] = $false
    $envelope['data'] = $null
    $envelope['error'] = $null
    return $envelope
}

function Write-EsEnvelope {
    # The one output of the script. Serialisation itself must not throw either. -InputObject, not the pipeline
    # (a piped array is unrolled). -Depth 10: PS 5.1 counts every dictionary and array level and silently writes
    # anything deeper as its ToString() text; the deepest array, connectors[].permissions[].aces[].rights, sits
    # at level 8 (tests/lab/test_ps51_shapes.py measures the lab's answers).
    param($Envelope, [string]$Kind, [string]$Name)
    try {
        return ConvertTo-Json -InputObject $Envelope -Depth 10 -Compress
    }
    catch {
        $fallback = New-EsEnvelope -Kind $Kind -Name $Name
        $fallback['error'] = [ordered]@{ kind = 'Failed'; message = 'could not serialise the result: ' + [string]$_.Exception.Message }
        return ConvertTo-Json -InputObject $fallback -Depth 10 -Compress
    }
}

function ConvertTo-EsText {
    # A string, or $null for missing and empty values.
    param($Value)
    if ($null -eq $Value -or [string]$Value -eq '') { return $null }
    return [string]$Value
}

function Get-EsSchedulerData {
    # Get-ADSyncScheduler: https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-feature-scheduler
    # (property table "Scheduler configuration"); cmdlet reference:
    # https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync
    # -ErrorAction Stop on the call itself: $ErrorActionPreference does not reach into script-module functions,
    # and a non-terminating error would otherwise leave $scheduler empty and the probe "ok".
    $scheduler = Get-ADSyncScheduler -ErrorAction Stop
    $source = 'Get-ADSyncScheduler'
    $inProgress = $null
    # SyncCycleInProgress is not in the Learn property table (seen in a Microsoft blog's sample output): optional.
    if ($null -ne $scheduler -and $null -ne $scheduler.PSObject.Properties['SyncCycleInProgress']) {
        $inProgress = ConvertTo-EsBool -Value $scheduler.SyncCycleInProgress
    }
    return [ordered]@{
        allowed_interval_s     = ConvertTo-EsSeconds -Value $scheduler.AllowedSyncCycleInterval
        effective_interval_s   = ConvertTo-EsSeconds -Value $scheduler.CurrentlyEffectiveSyncCycleInterval
        customized_interval_s  = ConvertTo-EsSeconds -Value $scheduler.CustomizedSyncCycleInterval
        # [string] on the enum: PS 5.1's ConvertTo-Json writes enums as numbers.
        next_policy_type       = [string]$scheduler.NextSyncCyclePolicyType
        next_start_utc         = ConvertTo-EsUtcString -Value $scheduler.NextSyncCycleStartTimeInUTC -AssumeUtc
        purge_interval_s       = ConvertTo-EsSeconds -Value $scheduler.PurgeRunHistoryInterval
        sync_cycle_enabled     = Get-EsRequiredBool -Object $scheduler -Name 'SyncCycleEnabled' -Source $source
        maintenance_enabled    = Get-EsRequiredBool -Object $scheduler -Name 'MaintenanceEnabled' -Source $source
        staging_mode_enabled   = Get-EsRequiredBool -Object $scheduler -Name 'StagingModeEnabled' -Source $source
        scheduler_suspended    = Get-EsRequiredBool -Object $scheduler -Name 'SchedulerSuspended' -Source $source
        sync_cycle_in_progress = $inProgress
    }
}
