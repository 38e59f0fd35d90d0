-- Per-chat notification choices (issue 12, /notify): {"scans": "off", "summaries": "silent", ...} by the
-- user-facing kind word; a kind not in it is "on". Read by the alert INSERT itself (storage/alerts.py), so an
-- alert of a kind the chat turned off is stored already `dropped` (visible, never sent) whichever code path
-- queues it, and a silent kind's payload carries "silent": true for the platform to send without sound.
ALTER TABLE chats ADD COLUMN notify_json TEXT NOT NULL DEFAULT '{}';
