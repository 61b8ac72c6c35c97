# entra-standby-probe: access
<#
.SYNOPSIS
  Preflight: who the audit account is in this session, its language mode, elevation and token groups, so that
  a missing right is reported once, with the group to add (docs/real-server.md, "Rights").
.NOTES
  Sources:
  - whoami /user /groups /fo csv /nh (name, type, SID, attributes of each group in the logon token; the mandatory
    label "S-1-16-12288" = high integrity, i.e. an unfiltered administrator token):
    https://learn.microsoft.com/windows-server/administration/windows-commands/whoami ;
    well-known SIDs (S-1-5-32-544 Administrators, S-1-5-32-580 Remote Management Users, S-1-16-*):
    https://learn.microsoft.com/windows-server/identity/ad-ds/manage/understand-security-identifiers
  - Language mode: https://learn.microsoft.com/powershell/module/microsoft.powershell.core/about/about_language_modes
  - The ADSync groups (ADSyncAdmins, ADSyncOperators, ADSyncBrowse, ADSyncPasswordSet; local groups on a member
    server, named after the setup's choice when "custom sync groups" were given):
    https://learn.microsoft.com/training/modules/manage-synchronized-identities/ (unit "Use Azure AD Connect
    Sync security groups"). Which group each ADSync cmdlet needs is UNCONFIRMED.
  This probe uses nothing that ConstrainedLanguage refuses (a native command, ConvertFrom-Csv, string tests), so it
  still answers where every other probe refuses, and says why. Group names come from whoami in the system's
  language; the checks read the built-in groups by SID and the ADSync groups by their (unlocalised) names.
  Output: one JSON envelope (docs/contracts.md section 1), data = AccessFacts.
#>
[CmdletBinding()]
param()

#region entra-standby common helpers (probes/helpers/common.ps1, inserted here when the script is loaded)
#endregion entra-standby common helpers

$envelope = New-EsEnvelope -Kind 'probe' -Name 'access'
try {
    $ErrorActionPreference = 'Stop'
    $mode = [string]$ExecutionContext.SessionState.LanguageMode
    # whoami.exe: https://learn.microsoft.com/windows-server/administration/windows-commands/whoami
    $userLines = @(whoami.exe /user /fo csv /nh)
    if ($LASTEXITCODE -ne 0 -or $userLines.Count -eq 0) {
        throw ('whoami /user failed (exit code ' + [string]$LASTEXITCODE + ')')
    }
    # ConvertFrom-Csv: https://learn.microsoft.com/powershell/module/microsoft.powershell.utility/convertfrom-csv
    # -Header: whoami's own header line is localised, so /nh and fixed column names.
    $user = @($userLines | ConvertFrom-Csv -Header 'Name', 'Sid')[0]
    $groupLines = @(whoami.exe /groups /fo csv /nh)
    if ($LASTEXITCODE -ne 0) {
        throw ('whoami /groups failed (exit code ' + [string]$LASTEXITCODE + ')')
    }
    # A plain array, not a .NET List: New-Object of a generic list is refused in ConstrainedLanguage.
    $groups = @()
    $elevated = $null
    foreach ($row in @($groupLines | ConvertFrom-Csv -Header 'Name', 'Type', 'Sid', 'Attributes')) {
        $sid = [string]$row.Sid
        if ($sid -eq '') { continue }
        # Mandatory integrity labels: S-1-16-12288 high, S-1-16-16384 system; medium (8192) is a filtered token.
        if ($sid -like 'S-1-16-*') {
            $elevated = ($sid -eq 'S-1-16-12288' -or $sid -eq 'S-1-16-16384')
            continue
        }
        $groups += , ([ordered]@{ name = [string]$row.Name; sid = $sid })
    }
    $data = [ordered]@{
        identity      = [string]$user.Name
        sid           = [string]$user.Sid
        language_mode = $mode
        elevated      = $elevated
        groups        = $groups
    }
    $envelope['data'] = $data
    $envelope['ok'] = $true
}
catch {
    $envelope['data'] = $null
    $envelope['error'] = [ordered]@{ kind = (Get-EsErrorKind -ErrorRecord $_); message = [string]$_.Exception.Message }
}
Write-EsEnvelope -Envelope $envelope -Kind 'probe' -Name 'access'
