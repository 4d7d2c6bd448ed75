"""The metadata service's bodies in the guide's PascalCase shapes (API version 2018-12-01
names: ``NamespaceName``, ``NoteName``, ``Occurrence.Attestation.Signatures[]``, …); the
rest of the API is camelCase. A note's path field is ``name``, as the guide writes it.
Signature policies and admission are Dockyard's own: camelCase like the rest."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_pascal

from dockyard.api.schemas.common import ApiModel, RequestModel


class GuideModel(BaseModel):
    """A response body in the guide's PascalCase."""

    model_config = ConfigDict(
        alias_generator=to_pascal,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        from_attributes=True,
    )


class GuideRequest(BaseModel):
    """A request body in the guide's PascalCase; unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_pascal, validate_by_name=False, validate_by_alias=True, extra="forbid"
    )


class MetadataNamespaceCreate(GuideRequest):
    namespace_name: str = Field(max_length=64, description="The metadata namespace's name")
    description: str = Field(default="", max_length=1024)


class MetadataNamespaceOut(GuideModel):
    namespace_name: str = Field(validation_alias="name", serialization_alias="NamespaceName")
    description: str
    create_time: datetime = Field(validation_alias="created_at", serialization_alias="CreateTime")


class Hint(GuideRequest):
    human_readable_name: str = Field(default="", max_length=256)


class NoteAttestation(GuideRequest):
    hint: Hint = Field(default_factory=Hint)


class NoteBody(GuideRequest):
    name: str | None = Field(
        default=None,
        alias="name",
        max_length=256,
        description="`/namespaces/<namespace>/notes/<note>`",
    )
    short_description: str = Field(default="", max_length=1024)
    long_description: str = Field(default="", max_length=8192)
    expiration_time: AwareDatetime | None = Field(
        default=None, description="RFC 3339; a past time is accepted (verification: expired)"
    )
    kind: str = Field(default="ATTESTATION", max_length=32, description="`ATTESTATION`")
    attestation: NoteAttestation = Field(default_factory=NoteAttestation)


class NoteCreate(GuideRequest):
    note_name: str = Field(max_length=64, description="The note's short name")
    note: NoteBody


class NoteOut(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)

    name: str
    short_description: str = Field(serialization_alias="ShortDescription")
    long_description: str = Field(serialization_alias="LongDescription")
    expiration_time: datetime | None = Field(serialization_alias="ExpirationTime")
    kind: str = Field(serialization_alias="Kind")
    attestation: dict[str, dict[str, str]] = Field(serialization_alias="Attestation")
    create_time: datetime = Field(serialization_alias="CreateTime")


class SignatureBody(GuideRequest):
    signature: str = Field(description="The armored output of `gpg --armor --sign`")
    public_key_id: str = Field(max_length=128, description="The signing key's fingerprint")


class OccurrenceAttestation(GuideRequest):
    signatures: list[SignatureBody] = Field(max_length=16)


class OccurrenceBody(GuideRequest):
    name: str | None = Field(
        default=None, max_length=256, description="`/namespaces/<namespace>/occurrences/<id>`"
    )
    note_name: str = Field(max_length=256, description="A note's short name or path")
    resource_uri: str = Field(
        max_length=512,
        description="`image://<region>/<instanceId>/<namespace>/<repository>@<digest>`",
    )
    kind: str = Field(default="ATTESTATION", max_length=32)
    attestation: OccurrenceAttestation


class OccurrenceCreate(GuideRequest):
    occurrence_name: str = Field(
        max_length=128, description="Must equal the last segment of `Occurrence.Name`"
    )
    occurrence: OccurrenceBody


class SignatureOut(GuideModel):
    signature: str
    public_key_id: str


class OccurrenceOut(GuideModel):
    name: str = Field(validation_alias="path", serialization_alias="Name")
    note_name: str = Field(serialization_alias="NoteName")
    resource_uri: str = Field(serialization_alias="ResourceUri")
    kind: str
    attestation: dict[str, list[SignatureOut]]
    create_time: datetime


class OccurrencePage(GuideModel):
    occurrences: list[OccurrenceOut]
    total_count: int
    page_no: int
    page_size: int


class PublicKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public_key: str | None = Field(
        default=None,
        alias="PublicKey",
        description="An armored OpenPGP public key block, or a PEM public key or x509 "
        "certificate (cosign and Notation signatures)",
    )
    public_key_data: str | None = Field(
        default=None, alias="publicKeyData", description="The same, base64-encoded"
    )


class PublicKeyOut(GuideModel):
    fingerprint: str
    key_type: str = Field(description="`OpenPGP`, `PEM` (a public key) or `X509` (a certificate)")
    user_id: str = Field(serialization_alias="UserId")
    expiration_time: datetime | None
    public_key: str
    create_time: datetime = Field(validation_alias="created_at", serialization_alias="CreateTime")


class SignatureCheckOut(GuideModel):
    metadata_namespace: str = Field(validation_alias="namespace")
    occurrence: str
    note: str
    public_key_id: str
    signer: str | None
    user_id: str | None = Field(serialization_alias="UserId")
    valid: bool
    reason: str | None


class OciSignatureCheckOut(GuideModel):
    """A cosign or Notation signature stored in the registry over the image."""

    type: str = Field(description="`cosign` or `notation`")
    manifest: str = Field(description="The signature manifest's digest")
    digest: str = Field(description="The image it signs")
    tag: str | None = Field(description="cosign's `sha256-<hex>.sig` tag, when stored under one")
    metadata_namespace: str | None = Field(
        validation_alias="namespace", description="Where the key that verifies it is registered"
    )
    fingerprint: str | None = Field(
        validation_alias="key", description="The fingerprint of the key that verifies it"
    )
    valid: bool
    reason: str | None


class VerificationOut(GuideModel):
    repository: str
    digest: str
    resource_uri: str = Field(serialization_alias="ResourceUri")
    verified: bool
    signatures: list[SignatureCheckOut]
    oci_signatures: list[OciSignatureCheckOut] = Field(serialization_alias="OciSignatures")


class SignaturePolicyCreate(RequestModel):
    name: str = Field(max_length=64, description="1-64 of letters, digits, '.', '_', '-'")
    namespace: str | None = Field(
        default=None, max_length=64, description="Every repository of this namespace"
    )
    repository: str | None = Field(
        default=None, max_length=256, description="Or this repository (`namespace/repository`)"
    )
    note: str = Field(max_length=129, description="`<metadata namespace>/<note>`")
    keys: list[str] | None = Field(
        default=None,
        max_length=16,
        description="Fingerprints of the keys that count; none: any key registered beside the note",
    )
    tags: str | None = Field(
        default=None,
        max_length=512,
        description="Only pulls of tags matching this regex (the whole tag); none: every pull",
    )


class SignaturePolicyOut(ApiModel):
    name: str
    namespace: str | None
    repository: str | None
    note: str
    keys: list[str]
    tags: str | None
    created_at: datetime


class AdmissionRequest(RequestModel):
    image: str = Field(
        max_length=512,
        description="`[host/]namespace/repository@digest` (or `:tag`), as a pod spec names it",
    )


class PolicyOutcomeOut(ApiModel):
    policy: str
    applies: bool
    satisfied: bool
    reasons: list[str]


class OciSignatureOut(ApiModel):
    type: str
    manifest: str
    digest: str
    tag: str | None
    metadata_namespace: str | None = Field(validation_alias="namespace")
    key: str | None
    valid: bool
    reason: str | None


class AdmissionOut(ApiModel):
    repository: str
    digest: str
    admitted: bool
    policies: list[PolicyOutcomeOut]
    oci_signatures: list[OciSignatureOut] = Field(
        description="cosign and Notation signatures over the image or an index listing it"
    )
