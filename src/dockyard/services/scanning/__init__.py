"""Image scanning (PRODUCT.md §10): the offline OSV vulnerability database and matching
installed packages against it with each ecosystem's version order."""

from dockyard.services.scanning.external import (
    CREATE_ACTION as CREATE_SCANNER_ACTION,
)
from dockyard.services.scanning.external import (
    DELETE_ACTION as DELETE_SCANNER_ACTION,
)
from dockyard.services.scanning.external import (
    AdapterClient,
    AdapterEndpoint,
    ExternalScanError,
    ExternalScanners,
    ScannerSpec,
    ScannerView,
)
from dockyard.services.scanning.matching import (
    InstalledPackage,
    ecosystem_of,
    os_ecosystem,
    parse_os_release,
)
from dockyard.services.scanning.osv import SEVERITIES, check_severity, severity_rank
from dockyard.services.scanning.policy import (
    SUBSCRIBER_NAME,
    UPDATE_POLICY_ACTION,
    AllowedId,
    ScanOnPushSubscriber,
    ScanPolicyService,
    ScanPolicySpec,
    ScanPolicyView,
)
from dockyard.services.scanning.sbom import ScanPackage
from dockyard.services.scanning.scans import (
    DONE,
    FAILED,
    QUEUED,
    SCAN_ACTION,
    SCAN_JOB_KIND,
    SCANNER,
    SCANNING,
    ScanService,
    ScanView,
)
from dockyard.services.scanning.vulndb import (
    BUILTIN_SCANNER,
    IMPORT_ACTION,
    REMATCH_JOB_KIND,
    EcosystemCount,
    ImportResult,
    VulnDbService,
    VulnDbStatus,
    Vulnerability,
)

__all__ = [
    "BUILTIN_SCANNER",
    "CREATE_SCANNER_ACTION",
    "DELETE_SCANNER_ACTION",
    "DONE",
    "FAILED",
    "IMPORT_ACTION",
    "QUEUED",
    "REMATCH_JOB_KIND",
    "SCANNER",
    "SCANNING",
    "SCAN_ACTION",
    "SCAN_JOB_KIND",
    "SEVERITIES",
    "SUBSCRIBER_NAME",
    "UPDATE_POLICY_ACTION",
    "AdapterClient",
    "AdapterEndpoint",
    "AllowedId",
    "EcosystemCount",
    "ExternalScanError",
    "ExternalScanners",
    "ImportResult",
    "InstalledPackage",
    "ScanOnPushSubscriber",
    "ScanPackage",
    "ScanPolicyService",
    "ScanPolicySpec",
    "ScanPolicyView",
    "ScanService",
    "ScanView",
    "ScannerSpec",
    "ScannerView",
    "VulnDbService",
    "VulnDbStatus",
    "Vulnerability",
    "check_severity",
    "ecosystem_of",
    "os_ecosystem",
    "parse_os_release",
    "severity_rank",
]
