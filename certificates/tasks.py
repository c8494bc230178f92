"""Celery tasks of certificates. Each takes ids, runs in the schema it was sent from (tenant-schemas-celery
stamps the sender's schema into the message) and calls one idempotent service, so a retry or a redelivery
(acks_late) is safe."""

from celery import shared_task

from certificates.services import certificate_batch_run, certificate_pdf_store


@shared_task(max_retries=3, default_retry_delay=30)
def certificate_batch_run_task(batch_id: int) -> dict:
    batch = certificate_batch_run(batch_id=batch_id)
    return {"status": batch.status, "done": batch.done_count, "total": batch.total}


@shared_task(bind=True, max_retries=3, default_retry_delay=30)
def certificate_pdf_store_task(self, certificate_id: int) -> bool:
    try:
        return certificate_pdf_store(certificate_id=certificate_id)
    except OSError as error:  # storage hiccup: try again a few times
        raise self.retry(exc=error) from error
