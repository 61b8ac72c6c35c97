# entra-standby-probe: config
<#
.SYNOPSIS
  Configuration fingerprint for drift between the two servers: partitions and OU filters, attribute inclusions,
  sync rules (SHA-256 of scope, join and attribute flows), optional features, source anchor, deletion threshold.
.NOTES
  Sources (entra-connect reference section 8):
  - Get-ADSyncConnector (Partitions, ConnectorPartitionScope.ContainerInclusionList/ContainerExclusionList, ObjectClasses,
    AttributeInclusionList; community object model, UNCONFIRMED names, both shapes read):
    https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync
  - Get-ADSyncRule (not in the Learn reference; property names beyond Name/Direction/Precedence/Disabled/ImmutableTag are
    UNCONFIRMED): fingerprint recipe after microsoft/AADConnectConfigDocumenter: https://github.com/microsoft/AADConnectConfigDocumenter
    Rules are keyed by connector *name* (GUIDs differ per install); volatile ids are left out of the hashes.
  - Get-ADSyncGlobalSettings parameters (Microsoft.Synchronize.ServerConfigurationVersion, Microsoft.OptionalFeature.*,
    Microsoft.SynchronizationOption.AnchorAttribute): undocumented, community observation, UNCONFIRMED.
  - Get-ADSyncAADPasswordSyncConfiguration / Get-ADSyncAADPasswordResetConfiguration (output shape UNCONFIRMED):
    https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync
  - Get-ADSyncExportDeletionThreshold: https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-feature-prevent-accidental-deletes
  Output: one JSON envelope (docs/contracts.md section 1), data = ConfigFacts.
#>
[CmdletBinding()]
param()

#region entra-standby common helpers (generated from probes/helpers/common.ps1 by scripts/sync-ps-helpers; do not edit here)
# Helper functions shared by every entra-standby probe and action (Windows PowerShell 5.1). Defining a function has
# no side effect, so every script carries all of them and calls the ones it needs.

function Get-EsErrorKind {
    # Maps an ErrorRecord onto the contract's error kinds: CommandNotFound, AccessDenied, NotInstalled, Failed.
    param($ErrorRecord)
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

function New-EsNotInstalledError {
    # An ErrorRecord in category NotInstalled, so Get-EsErrorKind reports NotInstalled.
    param([string]$Message)
    $exception = New-Object System.InvalidOperationException -ArgumentList $Message
    return New-Object System.Management.Automation.ErrorRecord -ArgumentList @(
        $exception, 'EntraStandby.NotInstalled', [System.Management.Automation.ErrorCategory]::NotInstalled, $null)
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
#endregion entra-standby common helpers

# Properties that differ per install (ids) or per run; they never enter a fingerprint.
$script:EsVolatileProperties = @('Identifier', 'InternalId', 'Connector', 'ConnectorId', 'Version', 'Id', 'CreationTime',
    'LastModificationTime', 'PrecedenceAfter', 'PrecedenceBefore')

function ConvertTo-EsQuoted {
    # A JSON-style quoted string (backslash and quote escaped): cheap enough for thousands of flow mappings.
    param([string]$Text)
    return '"' + $Text.Replace('\', '\\').Replace('"', '\"').Replace("`r", '\r').Replace("`n", '\n') + '"'
}

function ConvertTo-EsCanonicalText {
    # A canonical, culture-independent text of any value: dictionaries and object properties in ordinal key
    # order, lists in their own order, numbers in the invariant culture.
    param($Value, [int]$Depth = 0)
    if ($null -eq $Value) { return 'null' }
    if ($Depth -gt 8) { return '"..."' }
    if ($Value -is [string] -or $Value -is [char] -or $Value -is [guid] -or $Value -is [enum]) {
        return ConvertTo-EsQuoted -Text ([string]$Value)
    }
    if ($Value -is [bool]) {
        if ($Value) { return 'true' }
        return 'false'
    }
    if ($Value -is [datetime]) { return '"' + $Value.ToUniversalTime().ToString('o') + '"' }
    if ($Value -is [System.IFormattable]) {
        return '"' + $Value.ToString($null, [System.Globalization.CultureInfo]::InvariantCulture) + '"'
    }
    if ($Value -is [System.Collections.IDictionary]) {
        $keys = [string[]]@($Value.Keys | ForEach-Object { [string]$_ })
        [Array]::Sort($keys, [System.StringComparer]::Ordinal)
        $parts = @(foreach ($key in $keys) {
            (ConvertTo-EsQuoted -Text $key) + ':' + (ConvertTo-EsCanonicalText -Value $Value[$key] -Depth ($Depth + 1))
        })
        return '{' + ($parts -join ',') + '}'
    }
    if ($Value -is [System.Collections.IEnumerable]) {
        $items = @(foreach ($item in $Value) { ConvertTo-EsCanonicalText -Value $item -Depth ($Depth + 1) })
        return '[' + ($items -join ',') + ']'
    }
    $names = [string[]]@($Value.PSObject.Properties |
        Where-Object { $_.MemberType -eq 'Property' -or $_.MemberType -eq 'NoteProperty' } |
        ForEach-Object { $_.Name })
    [Array]::Sort($names, [System.StringComparer]::Ordinal)
    $parts = @(foreach ($name in $names) {
        if ($script:EsVolatileProperties -contains $name) { continue }
        $propertyValue = $null
        try { $propertyValue = $Value.PSObject.Properties[$name].Value } catch { $propertyValue = '<unreadable>' }
        (ConvertTo-EsQuoted -Text $name) + ':' + (ConvertTo-EsCanonicalText -Value $propertyValue -Depth ($Depth + 1))
    })
    return '{' + ($parts -join ',') + '}'
}

function Get-EsSha256 {
    # SHA-256 (lower-case hex) of the UTF-8 bytes of Text.
    param([string]$Text)
    $sha = [System.Security.Cryptography.SHA256]::Create()
    try {
        $bytes = $sha.ComputeHash([System.Text.Encoding]::UTF8.GetBytes($Text))
    }
    finally {
        $sha.Dispose()
    }
    return [System.BitConverter]::ToString($bytes).Replace('-', '').ToLowerInvariant()
}

function Get-EsSetHash {
    # Hash of a collection whose order carries no meaning (attribute flows, attribute inclusions).
    param($Items)
    $texts = [string[]]@(foreach ($item in @($Items)) { if ($null -ne $item) { ConvertTo-EsCanonicalText -Value $item } })
    [Array]::Sort($texts, [System.StringComparer]::Ordinal)
    return Get-EsSha256 -Text ('[' + ($texts -join ',') + ']')
}

function Get-EsFilterHash {
    # Hash of OR-ed groups of AND-ed conditions (scope filter, join filter): both levels are order-free.
    param($Groups, [string[]]$ConditionListNames)
    $groupTexts = [string[]]@(foreach ($group in @($Groups)) {
        if ($null -eq $group) { continue }
        $conditions = Get-EsProperty -Object $group -Names $ConditionListNames
        if ($null -eq $conditions) {
            ConvertTo-EsCanonicalText -Value $group   # unknown shape: the whole group, as it is
            continue
        }
        $conditionTexts = [string[]]@(foreach ($condition in @($conditions)) {
            if ($null -ne $condition) { ConvertTo-EsCanonicalText -Value $condition }
        })
        [Array]::Sort($conditionTexts, [System.StringComparer]::Ordinal)
        '[' + ($conditionTexts -join ',') + ']'
    })
    [Array]::Sort($groupTexts, [System.StringComparer]::Ordinal)
    return Get-EsSha256 -Text ('[' + ($groupTexts -join ',') + ']')
}

function Get-EsOrdinalOrder {
    # Items in the ordinal order of their Keys (one text per item). Sort-Object compares in the session's culture,
    # so servers with different system locales (tr-TR's dotted and dotless i) could list equal data in different
    # orders; ordinal order is the same everywhere. Emits the items: callers wrap the call in @().
    param([object[]]$Items, [string[]]$Keys)
    if ($null -eq $Items -or $Items.Count -eq 0) { return }
    $sortedItems = [object[]]$Items.Clone()
    $sortedKeys = [string[]]$Keys.Clone()
    [Array]::Sort($sortedKeys, $sortedItems, [System.StringComparer]::Ordinal)
    return $sortedItems
}

function Get-EsGlobalSetting {
    param($Settings, [string]$Name)
    if ($null -eq $Settings) { return $null }
    return Get-EsNamedValue -Collection $Settings.Parameters -Name $Name
}

$envelope = New-EsEnvelope -Kind 'probe' -Name 'config'
try {
    $ErrorActionPreference = 'Stop'
    # https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-staging-server (ADSync module)
    # -ErrorAction Stop on each module call as well: $ErrorActionPreference does not reach into script-module
    # functions, and a non-terminating error would drop connectors or rules while the probe still said "ok".
    Import-Module -Name ADSync -ErrorAction Stop

    # Undocumented, community-observed global settings (UNCONFIRMED names).
    $settings = Get-ADSyncGlobalSettings -ErrorAction Stop

    # https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync
    # Where-Object: @(cmdlet) holds one $null element when a cmdlet writes $null.
    $allConnectors = @(Get-ADSyncConnector -ErrorAction Stop | Where-Object { $null -ne $_ })
    $connectorNames = @{}
    $connectorConfigs = New-Object 'System.Collections.Generic.List[object]'
    $connectorKeys = [string[]]@(foreach ($connector in $allConnectors) { [string]$connector.Name })
    foreach ($connector in @(Get-EsOrdinalOrder -Items $allConnectors -Keys $connectorKeys)) {
        $connectorKey = ConvertTo-EsGuidString -Value $connector.Identifier
        # A $null hashtable key throws ("the array index evaluated to null") and would fail the whole probe.
        if ($null -ne $connectorKey) { $connectorNames[$connectorKey] = [string]$connector.Name }
        $type = [string](Get-EsProperty -Object $connector -Names @('ConnectorTypeName', 'Type'))
        $partitions = New-Object 'System.Collections.Generic.List[object]'
        foreach ($partition in @($connector.Partitions)) {
            if ($null -eq $partition) { continue }
            $scope = Get-EsProperty -Object $partition -Names @('ConnectorPartitionScope')
            $inclusions = @(Get-EsSortedStrings -Value (Get-EsProperty -Object $scope -Names @('ContainerInclusionList')))
            if ($inclusions.Count -eq 0) {
                $inclusions = @(Get-EsSortedStrings -Value (Get-EsProperty -Object $partition -Names @('ContainerInclusionList')))
            }
            $exclusions = @(Get-EsSortedStrings -Value (Get-EsProperty -Object $scope -Names @('ContainerExclusionList')))
            if ($exclusions.Count -eq 0) {
                $exclusions = @(Get-EsSortedStrings -Value (Get-EsProperty -Object $partition -Names @('ContainerExclusionList')))
            }
            $classes = @(Get-EsSortedStrings -Value (Get-EsProperty -Object $scope -Names @('ObjectClasses')))
            if ($classes.Count -eq 0) {
                $classes = @(Get-EsSortedStrings -Value (Get-EsProperty -Object $connector -Names @('ObjectInclusionList')))
            }
            $selected = ConvertTo-EsBool -Value (Get-EsProperty -Object $partition -Names @('Selected', 'IsSelected'))
            $partitions.Add([ordered]@{
                name           = [string](Get-EsProperty -Object $partition -Names @('DN', 'Name'))
                selected       = ($selected -eq $true)
                inclusions     = $inclusions
                exclusions     = $exclusions
                object_classes = $classes
            })
        }
        $attributes = @(Get-EsSortedStrings -Value (Get-EsProperty -Object $connector -Names @('AttributeInclusionList')))
        $attributeHash = $null
        if ($attributes.Count -gt 0) { $attributeHash = Get-EsSha256 -Text ($attributes -join "`n") }
        $connectorConfigs.Add([ordered]@{
            name                      = [string]$connector.Name
            type                      = $type
            partitions                = $partitions.ToArray()
            attribute_inclusions_hash = $attributeHash
        })
    }

    # Get-ADSyncRule: not in the Learn reference (community property list, UNCONFIRMED beyond the basics).
    $rules = New-Object 'System.Collections.Generic.List[object]'
    foreach ($rule in @(Get-ADSyncRule -ErrorAction Stop)) {
        if ($null -eq $rule) { continue }
        $connectorKey = ConvertTo-EsGuidString -Value $rule.Connector
        $connectorName = $connectorKey
        if ($null -ne $connectorKey -and $connectorNames.ContainsKey($connectorKey)) { $connectorName = $connectorNames[$connectorKey] }
        $tag = [string]$rule.ImmutableTag
        if ($tag -eq '') { $tag = $null }
        $isStandard = ConvertTo-EsBool -Value (Get-EsProperty -Object $rule -Names @('IsStandardRule'))
        if ($null -eq $isStandard) { $isStandard = ($null -ne $tag -and $tag -like 'Microsoft.*') }
        $rules.Add([ordered]@{
            name               = [string]$rule.Name
            connector          = [string]$connectorName
            direction          = [string]$rule.Direction
            precedence         = [int]$rule.Precedence
            disabled           = [bool]$rule.Disabled
            immutable_tag      = $tag
            is_standard        = [bool]$isStandard
            source_object_type = ConvertTo-EsText -Value (Get-EsProperty -Object $rule -Names @('SourceObjectType'))
            target_object_type = ConvertTo-EsText -Value (Get-EsProperty -Object $rule -Names @('TargetObjectType'))
            link_type          = ConvertTo-EsText -Value (Get-EsProperty -Object $rule -Names @('LinkType'))
            scope_hash         = Get-EsFilterHash -Groups $rule.ScopeFilter -ConditionListNames @('ScopeConditionList')
            join_hash          = Get-EsFilterHash -Groups $rule.JoinFilter -ConditionListNames @('JoinConditionList')
            flows_hash         = Get-EsSetHash -Items $rule.AttributeFlowMappings
        })
    }
    # Ordinal, not Sort-Object (culture); [char]0 separates the parts so 'a'+'bc' never equals 'ab'+'c'.
    $ruleItems = $rules.ToArray()
    $ruleKeys = [string[]]@(foreach ($item in $ruleItems) {
        [string]$item['connector'] + [char]0 + [string]$item['name'] + [char]0 + [string]$item['direction'] + [char]0 +
            ([int]$item['precedence']).ToString('D10', [System.Globalization.CultureInfo]::InvariantCulture)
    })
    # @(): rules must be a JSON array even when there is one rule or none.
    $sortedRules = @(Get-EsOrdinalOrder -Items $ruleItems -Keys $ruleKeys)

    # Optional features from global settings (names UNCONFIRMED; absent = never configured = off).
    $featureNames = [ordered]@{
        group_writeback             = 'Microsoft.OptionalFeature.GroupWriteBack'
        device_writeback            = 'Microsoft.OptionalFeature.DeviceWriteBack'
        exchange_hybrid             = 'Microsoft.OptionalFeature.HybridExchange'
        directory_extensions        = 'Microsoft.OptionalFeature.DirectoryExtension'
        exchange_mail_public_folder = 'Microsoft.OptionalFeature.ExchangeMailPublicFolder'
        user_writeback              = 'Microsoft.OptionalFeature.UserWriteBack'
        entra_app_filtering         = 'Microsoft.OptionalFeature.FilterAAD'
    }
    $features = [ordered]@{ password_hash_sync = $false; password_writeback = $false }
    foreach ($key in @($featureNames.Keys)) {
        $features[$key] = ((ConvertTo-EsBool -Value (Get-EsGlobalSetting -Settings $settings -Name $featureNames[$key])) -eq $true)
    }
    foreach ($connector in $allConnectors) {
        $type = [string](Get-EsProperty -Object $connector -Names @('ConnectorTypeName', 'Type'))
        try {
            if ($type -eq 'AD') {
                # https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync (shape UNCONFIRMED)
                $phs = Get-ADSyncAADPasswordSyncConfiguration -SourceConnector ([string]$connector.Name) -ErrorAction Stop
                if ((ConvertTo-EsBool -Value (Get-EsProperty -Object $phs -Names @('Enabled'))) -eq $true) { $features['password_hash_sync'] = $true }
            }
            else {
                # https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync (shape UNCONFIRMED)
                $pwwb = Get-ADSyncAADPasswordResetConfiguration -Connector ([string]$connector.Name) -ErrorAction Stop
                if ((ConvertTo-EsBool -Value (Get-EsProperty -Object $pwwb -Names @('Enabled'))) -eq $true) { $features['password_writeback'] = $true }
            }
        }
        catch {
            # These cmdlets refuse connectors of the other kind on some builds; the feature then reads as off.
            $null = $_
        }
    }

    $anchor = Get-EsGlobalSetting -Settings $settings -Name 'Microsoft.SynchronizationOption.AnchorAttribute'
    if ([string]$anchor -eq '') { $anchor = $null } else { $anchor = [string]$anchor }
    $version = Get-EsGlobalSetting -Settings $settings -Name 'Microsoft.Synchronize.ServerConfigurationVersion'
    if ([string]$version -eq '') { $version = $null } else { $version = [string]$version }

    # https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-feature-prevent-accidental-deletes
    # Two output shapes are known (UNCONFIRMED): ObjectDeletionThreshold[Enabled], or DeletionPrevention + ThresholdCount.
    $thresholdEnabled = $null
    $thresholdValue = $null
    try {
        $threshold = Get-ADSyncExportDeletionThreshold -ErrorAction Stop
        $thresholdEnabled = ConvertTo-EsBool -Value (Get-EsProperty -Object $threshold -Names @('ObjectDeletionThresholdEnabled', 'Enabled'))
        if ($null -eq $thresholdEnabled) {
            $prevention = [string](Get-EsProperty -Object $threshold -Names @('DeletionPrevention'))
            if ($prevention -ne '') { $thresholdEnabled = ($prevention -ne '0' -and $prevention -ne 'Disabled') }
        }
        $count = Get-EsProperty -Object $threshold -Names @('ObjectDeletionThreshold', 'ThresholdCount', 'DeletionThreshold')
        if ($null -ne $count) { $thresholdValue = [int64]$count }
    }
    catch {
        # Older builds prompt for Entra credentials, which a remote session cannot answer: use global settings.
        $thresholdEnabled = $null
    }
    if ($null -eq $thresholdEnabled) {
        $thresholdEnabled = ConvertTo-EsBool -Value (Get-EsGlobalSetting -Settings $settings -Name 'Microsoft.OptionalFeature.ExportDeletionThreshold')
        $fallbackValue = Get-EsGlobalSetting -Settings $settings -Name 'Microsoft.OptionalFeature.ExportDeletionThresholdValue'
        if ($null -ne $fallbackValue -and [string]$fallbackValue -ne '') { $thresholdValue = [int64]$fallbackValue }
    }
    if ($null -eq $thresholdEnabled) {
        throw 'the export deletion threshold could not be read (Get-ADSyncExportDeletionThreshold and global settings)'
    }

    $data = [ordered]@{
        server_configuration_version = $version
        connectors                   = $connectorConfigs.ToArray()
        rules                        = $sortedRules
        features                     = $features
        source_anchor                = $anchor
        deletion_threshold           = [ordered]@{ enabled = [bool]$thresholdEnabled; threshold = $thresholdValue }
    }
    $envelope['data'] = $data
    $envelope['ok'] = $true
}
catch {
    $envelope['data'] = $null
    $envelope['error'] = [ordered]@{ kind = (Get-EsErrorKind -ErrorRecord $_); message = [string]$_.Exception.Message }
}
Write-EsEnvelope -Envelope $envelope -Kind 'probe' -Name 'config'
