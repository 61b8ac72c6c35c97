# entra-standby-probe: connectors
<#
.SYNOPSIS
  Connectors, the AD connector accounts as AD sees them, and those accounts' ACEs on each domain root and synced OU.
.NOTES
  Sources (entra-connect reference section 6):
  - Get-ADSyncConnector, ConnectivityParameters forest-login-user / forest-login-domain / forest-name and the Entra
    connector's UserName: https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync ;
    https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsyncconfig (Get-ADSyncADConnectorAccount).
    ConnectorTypeName vs Type depends on the build (UNCONFIRMED): both are read.
    Partitions / ConnectorPartitionScope.ContainerInclusionList: community object model (UNCONFIRMED); both shapes read.
  - Get-ADUser (Enabled, LockedOut, PasswordExpired, PasswordNeverExpires, pwdLastSet, SID, tokenGroups):
    https://learn.microsoft.com/powershell/module/activedirectory/get-aduser
  - Get-Acl on the AD: drive (ActiveDirectoryAccessRule: ActiveDirectoryRights, AccessControlType, ObjectType,
    InheritedObjectType, InheritanceType, IsInherited): https://learn.microsoft.com/powershell/module/microsoft.powershell.security/get-acl ;
    https://learn.microsoft.com/dotnet/api/system.directoryservices.activedirectoryaccessrule
  - Required rights: https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-configure-ad-ds-connector-account
  AD reads inside a remote session need Kerberos delegation or CredSSP (double hop): a failure there sets
  permissions_error for that connector and the rest stays valid. permissions_error_kind is 'double-hop' when the
  session's token cannot be delegated (WindowsIdentity.ImpersonationLevel is not Delegation:
  https://learn.microsoft.com/dotnet/api/system.security.principal.windowsidentity.impersonationlevel ;
  https://learn.microsoft.com/dotnet/api/system.security.principal.tokenimpersonationlevel) and the read failed for
  want of a reachable, authenticated DC (server down / authentication failure / no AD: drive), the second-hop
  symptom: https://learn.microsoft.com/powershell/scripting/security/remoting/ps-remoting-second-hop
  - How the Entra connector authenticates: Get-ADSyncEntraConnectorCredential, ConnectorIdentityType ServiceAccount |
    Application: https://learn.microsoft.com/entra/identity/hybrid/connect/authenticate-application-id (the page shows
    its output only as a screenshot: every other property name is UNCONFIRMED and read under several names). The
    certificate's expiry is read from the credential object (a NotAfter-like property or a Certificate object), else
    looked up by thumbprint or SHA256 hash (the page's own hash script: SHA256 over GetRawCertData) in
    Cert:\LocalMachine\My, where BYOC/BYOA certificates must live (same page); the Connect-managed certificate sits in
    the sync service account's CURRENT_USER store, which this session cannot open, so certificate_error then names the
    credential's properties. Read on its own: a failure sets entra_identity.error, the connectors stay valid.
  Output: one JSON envelope (docs/contracts.md section 1), data = ConnectorsFacts.
#>
[CmdletBinding()]
param()

#region entra-standby common helpers (probes/helpers/common.ps1, inserted here when the script is loaded)
#endregion entra-standby common helpers

function Test-EsDoubleHopFailure {
    # True when an AD read failed because this remote logon cannot carry the caller's credentials on to a DC.
    param($ErrorRecord)
    $level = [string][System.Security.Principal.WindowsIdentity]::GetCurrent().ImpersonationLevel
    if ($level -eq 'Delegation' -or $level -eq 'None') { return $false }   # delegable, or a local (primary) token
    $exception = $ErrorRecord.Exception
    while ($null -ne $exception) {
        $name = $exception.GetType().Name
        if ($name -eq 'ADServerDownException' -or $name -eq 'AuthenticationException' -or $name -eq 'DriveNotFoundException') {
            return $true
        }
        $exception = $exception.InnerException
    }
    return $false
}

function Get-EsAccountState {
    # The connector account as AD sees it, and the SIDs that count as "the account" (itself + tokenGroups).
    param([string]$User, [string]$Domain)
    $arguments = @{
        Identity   = $User
        Properties = @('Enabled', 'LockedOut', 'PasswordExpired', 'PasswordNeverExpires', 'pwdLastSet', 'tokenGroups')
    }
    if ($Domain -ne '') { $arguments['Server'] = $Domain }
    try {
        # https://learn.microsoft.com/powershell/module/activedirectory/get-aduser
        $account = Get-ADUser @arguments -ErrorAction Stop
    }
    catch {
        if ($_.Exception.GetType().Name -eq 'ADIdentityNotFoundException') {
            return @{ state = [ordered]@{ found = $false }; sids = @() }
        }
        throw
    }
    $lastSet = $null
    if ($null -ne $account.pwdLastSet -and [int64]$account.pwdLastSet -gt 0) {
        # pwdLastSet is a FILETIME; 0 means "must change at next logon". A value beyond DateTime.MaxValue makes
        # FromFileTimeUtc throw, which would cost the whole connector its account state: read it as unknown.
        try { $lastSet = [datetime]::FromFileTimeUtc([int64]$account.pwdLastSet).ToString('o') } catch { $lastSet = $null }
    }
    $sids = New-Object 'System.Collections.Generic.List[string]'
    $sids.Add([string]$account.SID.Value)
    foreach ($group in @($account.tokenGroups)) {
        if ($null -ne $group) { $sids.Add([string]$group.Value) }
    }
    $state = [ordered]@{
        found                  = $true
        distinguished_name     = [string]$account.DistinguishedName
        sid                    = [string]$account.SID.Value
        enabled                = [bool]$account.Enabled
        locked_out             = [bool]$account.LockedOut
        password_expired       = [bool]$account.PasswordExpired
        password_never_expires = [bool]$account.PasswordNeverExpires
        password_last_set      = $lastSet
    }
    return @{ state = $state; sids = $sids.ToArray() }
}

function Get-EsObjectPermissions {
    # ACEs on one AD object whose trustee is one of Sids (the account or a group it is in).
    param([string]$DistinguishedName, [string]$Scope, [string[]]$Sids, [hashtable]$NameCache)
    # Get-Acl on the ActiveDirectory provider: https://learn.microsoft.com/powershell/module/microsoft.powershell.security/get-acl
    $acl = Get-Acl -LiteralPath ('AD:\' + $DistinguishedName) -ErrorAction Stop
    $aces = New-Object 'System.Collections.Generic.List[object]'
    # Rules with SecurityIdentifier trustees, so group membership (tokenGroups) can be matched without name lookups.
    # https://learn.microsoft.com/dotnet/api/system.security.accesscontrol.directoryobjectsecurity.getaccessrules
    foreach ($rule in @($acl.GetAccessRules($true, $true, [System.Security.Principal.SecurityIdentifier]))) {
        $sid = [string]$rule.IdentityReference.Value
        if ($Sids -notcontains $sid) { continue }
        if (-not $NameCache.ContainsKey($sid)) {
            $display = $sid
            try { $display = [string]$rule.IdentityReference.Translate([System.Security.Principal.NTAccount]).Value } catch { $display = $sid }
            $NameCache[$sid] = $display
        }
        $rights = @(([string]$rule.ActiveDirectoryRights) -split ',\s*' | Where-Object { $_ -ne '' })
        $aces.Add([ordered]@{
            identity              = $NameCache[$sid]
            rights                = $rights
            access                = [string]$rule.AccessControlType
            object_type           = ConvertTo-EsGuidString -Value $rule.ObjectType
            inherited_object_type = ConvertTo-EsGuidString -Value $rule.InheritedObjectType
            inheritance           = [string]$rule.InheritanceType
            inherited             = [bool]$rule.IsInherited
        })
    }
    return [ordered]@{ object_dn = $DistinguishedName; scope = $Scope; aces = $aces.ToArray() }
}

function Get-EsSyncedObjects {
    # Domain roots and included OUs of the connector's selected partitions (ordered, without duplicates).
    param($Connector)
    $objects = New-Object 'System.Collections.Generic.List[object]'
    $seen = @{}
    foreach ($partition in @($Connector.Partitions)) {
        if ($null -eq $partition) { continue }
        $selected = ConvertTo-EsBool -Value (Get-EsProperty -Object $partition -Names @('Selected', 'IsSelected'))
        if ($selected -eq $false) { continue }
        $root = [string](Get-EsProperty -Object $partition -Names @('DN', 'Name'))
        if ($root -notlike 'DC=*') { continue }   # configuration/schema/application partitions carry no delegations we audit
        if (-not $seen.ContainsKey($root.ToLowerInvariant())) {
            $seen[$root.ToLowerInvariant()] = $true
            $objects.Add(@{ dn = $root; scope = 'domain-root' })
        }
        $scope = Get-EsProperty -Object $partition -Names @('ConnectorPartitionScope')
        $inclusions = @(Get-EsSortedStrings -Value (Get-EsProperty -Object $scope -Names @('ContainerInclusionList')))
        if ($inclusions.Count -eq 0) {
            $inclusions = @(Get-EsSortedStrings -Value (Get-EsProperty -Object $partition -Names @('ContainerInclusionList')))
        }
        foreach ($ou in $inclusions) {
            if ($seen.ContainsKey($ou.ToLowerInvariant())) { continue }
            $seen[$ou.ToLowerInvariant()] = $true
            $objects.Add(@{ dn = $ou; scope = 'ou' })
        }
    }
    return $objects.ToArray()
}

$envelope = New-EsEnvelope -Kind 'probe' -Name 'connectors'
try {
    $ErrorActionPreference = 'Stop'
    Assert-EsFullLanguage
    # https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-staging-server (ADSync module)
    # -ErrorAction Stop on each module call as well: $ErrorActionPreference does not reach into script-module
    # functions, and a non-terminating error would read as "no connectors" while the probe still said "ok".
    Import-EsADSync
    $adModuleError = $null
    $adModuleErrorKind = $null
    try {
        # RSAT ActiveDirectory module (Get-ADUser, AD: drive): https://learn.microsoft.com/powershell/module/activedirectory/
        Import-Module -Name ActiveDirectory -ErrorAction Stop
    }
    catch {
        $adModuleError = 'ActiveDirectory module unavailable (install RSAT-AD-PowerShell): ' + [string]$_.Exception.Message
        if (Test-EsDoubleHopFailure -ErrorRecord $_) {
            $adModuleError = 'ActiveDirectory module could not reach a domain controller: ' + [string]$_.Exception.Message
            $adModuleErrorKind = 'double-hop'
        }
    }
    $nameCache = @{}
    $connectors = New-Object 'System.Collections.Generic.List[object]'
    # https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsync
    foreach ($connector in @(Get-ADSyncConnector -ErrorAction Stop)) {
        # @(cmdlet) holds one $null element when a cmdlet writes $null: skip it, do not report a nameless connector.
        if ($null -eq $connector) { continue }
        $type = [string](Get-EsProperty -Object $connector -Names @('ConnectorTypeName', 'Type'))
        $parameters = $connector.ConnectivityParameters
        $entry = [ordered]@{
            name              = [string]$connector.Name
            identifier        = ConvertTo-EsGuidString -Value $connector.Identifier
            type              = $type
            forest            = $null
            account_user      = $null
            account_domain    = $null
            account           = $null
            permissions       = @()
            permissions_error = $null
            permissions_error_kind = $null
        }
        if ($type -ne 'AD') {
            # Entra connector: its sync account (absent with application-based authentication). ConvertTo-EsText:
            # a string or null whatever object the parameter value is.
            $entry['account_user'] = ConvertTo-EsText -Value (Get-EsNamedValue -Collection $parameters -Name 'UserName')
            $connectors.Add($entry)
            continue
        }
        # https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-adsyncconfig (forest-login-*)
        $entry['forest'] = ConvertTo-EsText -Value (Get-EsNamedValue -Collection $parameters -Name 'forest-name')
        $entry['account_user'] = ConvertTo-EsText -Value (Get-EsNamedValue -Collection $parameters -Name 'forest-login-user')
        $entry['account_domain'] = ConvertTo-EsText -Value (Get-EsNamedValue -Collection $parameters -Name 'forest-login-domain')
        if ($null -ne $adModuleError) {
            $entry['permissions_error'] = $adModuleError
            $entry['permissions_error_kind'] = $adModuleErrorKind
            $connectors.Add($entry)
            continue
        }
        $sids = @()
        if ($null -eq $entry['account_user']) {
            # [string]$null is '': Get-ADUser -Identity '' would fail with a parameter-binding message instead.
            $entry['permissions_error'] = 'the connector names no account (ConnectivityParameters forest-login-user is empty)'
            $connectors.Add($entry)
            continue
        }
        try {
            $account = Get-EsAccountState -User ([string]$entry['account_user']) -Domain ([string]$entry['account_domain'])
            $entry['account'] = $account['state']
            $sids = @($account['sids'])
        }
        catch {
            $entry['permissions_error'] = 'account lookup failed (' + (Get-EsErrorKind -ErrorRecord $_) + '): ' + [string]$_.Exception.Message
            if (Test-EsDoubleHopFailure -ErrorRecord $_) { $entry['permissions_error_kind'] = 'double-hop' }
            $connectors.Add($entry)
            continue
        }
        if ($sids.Count -eq 0) {
            $connectors.Add($entry)   # account not found: no ACEs to look for
            continue
        }
        $permissions = New-Object 'System.Collections.Generic.List[object]'
        $failures = New-Object 'System.Collections.Generic.List[string]'
        foreach ($object in @(Get-EsSyncedObjects -Connector $connector)) {
            try {
                $permissions.Add((Get-EsObjectPermissions -DistinguishedName $object['dn'] -Scope $object['scope'] -Sids $sids -NameCache $nameCache))
            }
            catch {
                $failures.Add([string]$object['dn'] + ': ' + (Get-EsErrorKind -ErrorRecord $_) + ': ' + [string]$_.Exception.Message)
                if (Test-EsDoubleHopFailure -ErrorRecord $_) { $entry['permissions_error_kind'] = 'double-hop' }
            }
        }
        $entry['permissions'] = $permissions.ToArray()
        if ($failures.Count -gt 0) { $entry['permissions_error'] = ($failures.ToArray() -join '; ') }
        $connectors.Add($entry)
    }
    $identity = [ordered]@{
        identity_type = $null; application_id = $null; certificate_thumbprint = $null; certificate_not_after = $null
        certificate_source = $null; certificate_error = $null; error = $null
    }
    try {
        $credential = Get-ADSyncEntraConnectorCredential -ErrorAction Stop | Select-Object -First 1
        $identity['identity_type'] = ConvertTo-EsText -Value (Get-EsProperty -Object $credential -Names @('ConnectorIdentityType', 'IdentityType'))
        if ($null -eq $identity['identity_type']) { throw 'Get-ADSyncEntraConnectorCredential returned no ConnectorIdentityType' }
        if ($identity['identity_type'] -eq 'Application') {
            $identity['application_id'] = ConvertTo-EsGuidString -Value (Get-EsProperty -Object $credential -Names @('ApplicationId', 'AppId', 'ClientId', 'ApplicationAppId'))
            $certificate = Get-EsProperty -Object $credential -Names @('Certificate')
            $thumbprint = ConvertTo-EsText -Value (Get-EsProperty -Object $credential -Names @('CertificateThumbprint', 'Thumbprint'))
            if ($null -eq $thumbprint -and $null -ne $certificate) { $thumbprint = ConvertTo-EsText -Value $certificate.Thumbprint }
            $sha256 = ConvertTo-EsText -Value (Get-EsProperty -Object $credential -Names @('CertificateSHA256Hash', 'CertificateSha256Hash', 'SHA256Hash'))
            $notAfter = Get-EsProperty -Object $credential -Names @('CertificateNotAfter', 'NotAfter', 'NotValidAfter', 'CertificateExpiry', 'ExpiryDate')
            if ($null -ne $notAfter) { $identity['certificate_source'] = 'Get-ADSyncEntraConnectorCredential' }
            elseif ($null -ne $certificate -and $null -ne $certificate.PSObject.Properties['NotAfter']) {
                $notAfter = $certificate.NotAfter
                $identity['certificate_source'] = 'Get-ADSyncEntraConnectorCredential Certificate'
            }
            elseif ($null -ne $thumbprint -or $null -ne $sha256) {
                foreach ($candidate in @(Get-ChildItem -Path 'Cert:\LocalMachine\My' -ErrorAction Stop)) {
                    $found = ($null -ne $thumbprint -and [string]$candidate.Thumbprint -eq $thumbprint)
                    if (-not $found -and $null -ne $sha256) {
                        $hash = [System.Security.Cryptography.SHA256]::Create().ComputeHash($candidate.GetRawCertData())
                        $found = ([System.BitConverter]::ToString($hash).Replace('-', '') -eq $sha256.ToUpperInvariant())
                    }
                    if ($found) {
                        $thumbprint = [string]$candidate.Thumbprint
                        $notAfter = $candidate.NotAfter
                        $identity['certificate_source'] = 'Cert:\LocalMachine\My'
                        break
                    }
                }
            }
            $identity['certificate_thumbprint'] = $thumbprint
            $identity['certificate_not_after'] = ConvertTo-EsUtcString -Value $notAfter
            if ($null -eq $identity['certificate_not_after']) {
                $names = @($credential.PSObject.Properties | ForEach-Object { [string]$_.Name }) -join ', '
                $identity['certificate_error'] = 'no certificate expiry in Get-ADSyncEntraConnectorCredential (properties: ' + $names + ') nor in Cert:\LocalMachine\My'
            }
        }
    }
    catch {
        $identity['error'] = [string](Get-EsErrorKind -ErrorRecord $_) + ': ' + [string]$_.Exception.Message
    }
    $data = [ordered]@{ connectors = $connectors.ToArray(); entra_identity = $identity }
    $envelope['data'] = $data
    $envelope['ok'] = $true
}
catch {
    $envelope['data'] = $null
    $envelope['error'] = [ordered]@{ kind = (Get-EsErrorKind -ErrorRecord $_); message = [string]$_.Exception.Message }
}
Write-EsEnvelope -Envelope $envelope -Kind 'probe' -Name 'connectors'
