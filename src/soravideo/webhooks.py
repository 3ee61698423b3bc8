"""Webhooks: apply a provider's push of a job's end, with polling as the safety net.

```python
event = await client.webhooks.handle(provider="replicate", headers=headers, body=raw_bytes)
```

[`handle`][soravideo.webhooks.AsyncWebhookService.handle] verifies the delivery's signature
and timestamp (a [`WebhookVerificationError`][soravideo.webhooks.WebhookVerificationError]
otherwise, nothing applied), records its id in the ledger (duplicates are acknowledged, not
applied again, across processes) and applies its news through the same compare-and-set
writes as polling. It returns a [`WebhookEvent`][soravideo.webhooks.WebhookEvent]. See the
webhooks guide for each provider's configuration.
"""

from __future__ import annotations

from ._api.sync import WebhookService
from ._api.webhooks import AsyncWebhookService, WebhookEvent
from ._core.errors import WebhookVerificationError

__all__ = ["AsyncWebhookService", "WebhookEvent", "WebhookService", "WebhookVerificationError"]
