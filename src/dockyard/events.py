"""The catalogue of domain events: every ``outbox_events.type`` Dockyard writes.

A change writes its event into the transactional outbox in the same transaction as the
change (``metadata.queries.content.add_outbox_event``); the outbox dispatcher
(``dockyard.services.outbox``) later hands it to the subscribers that asked for its type.
Subscribers and call sites name events only through :class:`EventType`, so a renamed or
mistyped event is a type error rather than a silently unmatched string.

This module sits at the top of the package (not in ``services``) because the metadata
layer types its outbox functions with it, and metadata never imports services.

The payload of each type, as written today (keys are camelCase, values JSON):

=====================  ===========================================================
``BlobPushed``         repository, digest, size
``BlobMounted``        repository, digest, from
``BlobDeleted``        repository, digest
``ManifestPushed``     repository, digest, mediaType, pushedBy
``ManifestDeleted``    repository, digest, tags
``TagUpdated``         repository, tag, digest, previous (None for a new tag), mediaType,
                       pushedBy — only when a push by tag points it at another digest
``TagDeleted``         repository, tag
``InstanceCreated``    instance
``InstanceUpdated``    instance, fields
``NamespaceCreated``   namespace
``NamespaceUpdated``   namespace, fields
``NamespaceDeleted``   namespace
``RepositoryCreated``  repository
``RepositoryUpdated``  repository, fields
``RepositoryDeleted``  repository
``BulkSeeded``         namespaces, repositories, tagsPerRepository
=====================  ===========================================================

Every event also carries its ``instance_id`` (a column, not a payload key).
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    """One member per event type; the value is what the outbox row stores."""

    BLOB_PUSHED = "BlobPushed"
    BLOB_MOUNTED = "BlobMounted"
    BLOB_DELETED = "BlobDeleted"
    MANIFEST_PUSHED = "ManifestPushed"
    MANIFEST_DELETED = "ManifestDeleted"
    TAG_UPDATED = "TagUpdated"
    TAG_DELETED = "TagDeleted"
    INSTANCE_CREATED = "InstanceCreated"
    INSTANCE_UPDATED = "InstanceUpdated"
    NAMESPACE_CREATED = "NamespaceCreated"
    NAMESPACE_UPDATED = "NamespaceUpdated"
    NAMESPACE_DELETED = "NamespaceDeleted"
    REPOSITORY_CREATED = "RepositoryCreated"
    REPOSITORY_UPDATED = "RepositoryUpdated"
    REPOSITORY_DELETED = "RepositoryDeleted"
    BULK_SEEDED = "BulkSeeded"
