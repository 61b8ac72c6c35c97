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
    https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync ; a failed read is recorded
    per feature (null + error text), never read as "off".
  - Get-ADSyncAADCompanyFeature -ConnectorName <Entra connector> .PasswordHashSync / .PasswordWriteBack: Microsoft's
    PHS troubleshooting script (https://learn.microsoft.com/entra/identity/hybrid/connect/tshoot-connect-password-hash-synchronization),
    which also tells the Entra connector by SubType 'Windows Azure Active Directory (Microsoft)'; its fixed
    identifier b891884f-051e-4a83-95af-2544101c9083: entra-connect reference section 2.2.
  - Export deletion threshold: the local global settings Microsoft.OptionalFeature.ExportDeletionThreshold /
    ExportDeletionThresholdValue (community dumps of Get-ADSyncGlobalSettings, UNCONFIRMED). Get-ADSyncExportDeletionThreshold
    is NOT called: its -AADUserName is mandatory and it signs in to Entra ID, which a remote session cannot answer
    (https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-feature-prevent-accidental-deletes).
    The tenant can hold a percentage threshold (Graph accidentalDeletionPrevention.synchronizationPreventionType
    enabledForPercentage: https://learn.microsoft.com/graph/api/resources/onpremisesaccidentaldeletionprevention);
    no dump shows a local parameter for it (UNCONFIRMED): one whose name contains 'Percent' is read as that.
  - Drift-relevant global settings (names from community dumps of Get-ADSyncGlobalSettings, UNCONFIRMED; values are
    strings): Microsoft.UserSignIn.SignOnMethod/DesktopSsoEnabled, Microsoft.SynchronizationOption.UPNAttribute/
    JoinCriteria, Microsoft.OptionalFeature.DirectoryExtensionAttributes/GroupFiltering/AutoUpgradeState,
    Microsoft.AADFilter.AttributeExclusionList/ApplicationList, Microsoft.GroupWriteBack.Forest/Container,
    Microsoft.DeviceWriteBack.Forest/Container.
  - Sync rule fields EnablePasswordSync, SoftDeleteExpiryInterval, VersionAgnosticTag, TagVersion: community
    object model (sean-m/laparoscope SyncRule model), UNCONFIRMED.
  Output: one JSON envelope (docs/contracts.md section 1), data = ConfigFacts.
#>
[CmdletBinding()]
param()

#region entra-standby common helpers (probes/helpers/common.ps1, inserted here when the script is loaded)
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

function ConvertTo-EsSettingText {
    # A global setting as text, $null when unset; comma-separated lists (attribute lists, AAD filters) in ordinal
    # order, so two servers holding the same set compare equal.
    param($Value, [bool]$IsList)
    if ($null -eq $Value) { return $null }
    $text = ([string]$Value).Trim()
    if ($text -eq '') { return $null }
    if (-not $IsList) { return $text }
    $items = @(Get-EsSortedStrings -Value @(foreach ($part in $text.Split(',')) { $part.Trim() }))
    return ($items -join ',')
}

function ConvertTo-EsOptionalSeconds {
    # A rule's TimeSpan-like property as seconds; an unreadable value is $null rather than a failed probe.
    param($Value)
    try { return ConvertTo-EsSeconds -Value $Value } catch { return $null }
}

function Test-EsEntraConnector {
    # The Entra ID connector: its fixed identifier, or the SubType Microsoft's PHS troubleshooting script tests.
    param($Connector)
    if ((ConvertTo-EsGuidString -Value $Connector.Identifier) -eq 'b891884f-051e-4a83-95af-2544101c9083') { return $true }
    return ([string](Get-EsProperty -Object $Connector -Names @('SubType', 'Subtype')) -eq 'Windows Azure Active Directory (Microsoft)')
}

function Get-EsDeletionThreshold {
    # The local view of accidental-delete prevention; a missing value is $null with the reason in 'error'.
    param($Settings)
    $result = [ordered]@{ enabled = $null; threshold = $null; mode = $null; percentage = $null; error = $null }
    $enabledName = 'Microsoft.OptionalFeature.ExportDeletionThreshold'
    $result['enabled'] = ConvertTo-EsBool -Value (Get-EsGlobalSetting -Settings $Settings -Name $enabledName)
    $count = [int64]0
    $rawCount = Get-EsGlobalSetting -Settings $Settings -Name ($enabledName + 'Value')
    if ($null -ne $rawCount -and [int64]::TryParse(([string]$rawCount).Trim(), [ref]$count)) { $result['threshold'] = $count }
    foreach ($parameter in @($Settings.Parameters)) {
        if ($null -eq $parameter) { continue }
        $name = [string]$parameter.Name
        if ($name -like ($enabledName + '*') -and $name -like '*Percent*') {
            $percent = [int64]0
            if ([int64]::TryParse(([string]$parameter.Value).Trim(), [ref]$percent) -and $percent -gt 0) {
                $result['percentage'] = $percent
            }
        }
    }
    if ($null -ne $result['percentage']) { $result['mode'] = 'percentage' }
    elseif ($null -ne $result['enabled']) { $result['mode'] = 'count' }
    if ($null -eq $result['enabled']) {
        $result['error'] = 'global setting ' + $enabledName + ' is not set on this server'
    }
    elseif ($result['enabled'] -and $result['mode'] -eq 'count' -and $null -eq $result['threshold']) {
        $result['error'] = 'global setting ' + $enabledName + 'Value is not set on this server'
    }
    return $result
}

$envelope = New-EsEnvelope -Kind 'probe' -Name 'config'
try {
    $ErrorActionPreference = 'Stop'
    Assert-EsFullLanguage
    # https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-staging-server (ADSync module)
    # -ErrorAction Stop on each module call as well: $ErrorActionPreference does not reach into script-module
    # functions, and a non-terminating error would drop connectors or rules while the probe still said "ok".
    Import-EsADSync

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
            identifier                = $connectorKey
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
            enable_password_sync          = ConvertTo-EsBool -Value (Get-EsProperty -Object $rule -Names @('EnablePasswordSync'))
            soft_delete_expiry_interval_s = ConvertTo-EsOptionalSeconds -Value (Get-EsProperty -Object $rule -Names @('SoftDeleteExpiryInterval'))
            version_agnostic_tag          = ConvertTo-EsText -Value (Get-EsProperty -Object $rule -Names @('VersionAgnosticTag'))
            tag_version                   = ConvertTo-EsText -Value (Get-EsProperty -Object $rule -Names @('TagVersion'))
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
    # PHS per AD connector, password writeback on the Entra connector. A failed read is not "off": the feature is
    # null with the error text, unless another connector already showed it on.
    $featureErrors = [ordered]@{}
    $featureFailures = @{
        password_hash_sync = New-Object 'System.Collections.Generic.List[string]'
        password_writeback = New-Object 'System.Collections.Generic.List[string]'
    }
    $entraConnector = $null
    foreach ($connector in $allConnectors) {
        $type = [string](Get-EsProperty -Object $connector -Names @('ConnectorTypeName', 'Type'))
        $name = [string]$connector.Name
        if ($type -eq 'AD') {
            try {
                # https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync (shape UNCONFIRMED)
                $phs = Get-ADSyncAADPasswordSyncConfiguration -SourceConnector $name -ErrorAction Stop
                if ((ConvertTo-EsBool -Value (Get-EsProperty -Object $phs -Names @('Enabled'))) -eq $true) { $features['password_hash_sync'] = $true }
            }
            catch {
                $featureFailures['password_hash_sync'].Add('Get-ADSyncAADPasswordSyncConfiguration -SourceConnector ' + $name + ': ' + [string]$_.Exception.Message)
            }
        }
        elseif (Test-EsEntraConnector -Connector $connector) {
            $entraConnector = $connector
            try {
                # https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync (shape UNCONFIRMED)
                $pwwb = Get-ADSyncAADPasswordResetConfiguration -Connector $name -ErrorAction Stop
                if ((ConvertTo-EsBool -Value (Get-EsProperty -Object $pwwb -Names @('Enabled'))) -eq $true) { $features['password_writeback'] = $true }
            }
            catch {
                $featureFailures['password_writeback'].Add('Get-ADSyncAADPasswordResetConfiguration -Connector ' + $name + ': ' + [string]$_.Exception.Message)
            }
        }
    }
    foreach ($key in @('password_hash_sync', 'password_writeback')) {
        if ($featureFailures[$key].Count -gt 0 -and $features[$key] -ne $true) {
            $features[$key] = $null
            $featureErrors[$key] = ($featureFailures[$key].ToArray() -join '; ')
        }
    }
    # The tenant's own flags: Microsoft's cross-check in its PHS troubleshooting script.
    $companyFeatures = [ordered]@{ password_hash_sync = $null; password_writeback = $null }
    if ($null -ne $entraConnector) {
        try {
            $company = Get-ADSyncAADCompanyFeature -ConnectorName ([string]$entraConnector.Name) -ErrorAction Stop
            $companyFeatures['password_hash_sync'] = ConvertTo-EsBool -Value (Get-EsProperty -Object $company -Names @('PasswordHashSync'))
            $companyFeatures['password_writeback'] = ConvertTo-EsBool -Value (Get-EsProperty -Object $company -Names @('PasswordWriteBack', 'PasswordWriteback'))
        }
        catch {
            $featureErrors['company_features'] = 'Get-ADSyncAADCompanyFeature: ' + [string]$_.Exception.Message
        }
    }
    else {
        $featureErrors['company_features'] = 'no Entra ID connector found'
    }

    $anchor = Get-EsGlobalSetting -Settings $settings -Name 'Microsoft.SynchronizationOption.AnchorAttribute'
    if ([string]$anchor -eq '') { $anchor = $null } else { $anchor = [string]$anchor }
    $version = Get-EsGlobalSetting -Settings $settings -Name 'Microsoft.Synchronize.ServerConfigurationVersion'
    if ([string]$version -eq '') { $version = $null } else { $version = [string]$version }

    # Settings that change what the server writes after failover (sign-in, UPN and join rules, extension
    # attributes, filters, writeback targets, auto-upgrade); list-valued ones ($true) are compared as sets.
    $driftSettings = [ordered]@{
        'Microsoft.UserSignIn.SignOnMethod'                      = $false
        'Microsoft.UserSignIn.DesktopSsoEnabled'                 = $false
        'Microsoft.SynchronizationOption.UPNAttribute'           = $false
        'Microsoft.SynchronizationOption.JoinCriteria'           = $false
        'Microsoft.OptionalFeature.DirectoryExtensionAttributes' = $true
        'Microsoft.OptionalFeature.GroupFiltering'               = $false
        'Microsoft.AADFilter.AttributeExclusionList'             = $true
        'Microsoft.AADFilter.ApplicationList'                    = $true
        'Microsoft.GroupWriteBack.Forest'                        = $false
        'Microsoft.GroupWriteBack.Container'                     = $false
        'Microsoft.DeviceWriteBack.Forest'                       = $false
        'Microsoft.DeviceWriteBack.Container'                    = $false
        'Microsoft.OptionalFeature.AutoUpgradeState'             = $false
    }
    $globalSettings = [ordered]@{}
    foreach ($settingName in @($driftSettings.Keys)) {
        $globalSettings[$settingName] = ConvertTo-EsSettingText -Value (Get-EsGlobalSetting -Settings $settings -Name $settingName) -IsList $driftSettings[$settingName]
    }

    $deletionThreshold = Get-EsDeletionThreshold -Settings $settings

    $data = [ordered]@{
        server_configuration_version = $version
        connectors                   = $connectorConfigs.ToArray()
        rules                        = $sortedRules
        features                     = $features
        source_anchor                = $anchor
        deletion_threshold           = $deletionThreshold
        feature_errors               = $featureErrors
        company_features             = $companyFeatures
        global_settings              = $globalSettings
    }
    $envelope['data'] = $data
    $envelope['ok'] = $true
}
catch {
    $envelope['data'] = $null
    $envelope['error'] = [ordered]@{ kind = (Get-EsErrorKind -ErrorRecord $_); message = [string]$_.Exception.Message }
}
Write-EsEnvelope -Envelope $envelope -Kind 'probe' -Name 'config'
