-- Cruddur's first schema (PostgreSQL 13+: gen_random_uuid() is built in).
-- Applied once by bin/db-setup, which records it in schema_migrations. A later
-- change is a new file (0002_...), never an edit of this one: db-setup refuses
-- a recorded migration whose file changed.
--
-- IF NOT EXISTS: databases set up before migrations were recorded (by the old
-- db/01-schema.sql, the same tables) have these tables already; there this
-- migration changes nothing and is recorded, and their rows stay.

CREATE TABLE IF NOT EXISTS public.users (
  uuid            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  display_name    text        NOT NULL,
  handle          text        NOT NULL UNIQUE CHECK (handle ~ '^[a-z0-9_]{1,64}$'),
  email           text        NOT NULL,
  cognito_user_id text        NOT NULL UNIQUE,
  bio             text,
  created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.activities (
  uuid                   uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  user_uuid              uuid        NOT NULL REFERENCES public.users (uuid) ON DELETE CASCADE,
  message                text        NOT NULL CHECK (char_length(message) BETWEEN 1 AND 280),
  replies_count          integer     NOT NULL DEFAULT 0,
  reposts_count          integer     NOT NULL DEFAULT 0,
  likes_count            integer     NOT NULL DEFAULT 0,
  reply_to_activity_uuid uuid        REFERENCES public.activities (uuid) ON DELETE CASCADE,
  expires_at             timestamptz,
  created_at             timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS activities_created_at_idx ON public.activities (created_at DESC);
CREATE INDEX IF NOT EXISTS activities_user_created_at_idx ON public.activities (user_uuid, created_at DESC);
CREATE INDEX IF NOT EXISTS activities_reply_to_idx ON public.activities (reply_to_activity_uuid)
  WHERE reply_to_activity_uuid IS NOT NULL;
