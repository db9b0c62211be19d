-- Cruddur schema (PostgreSQL 13+: gen_random_uuid() is built in).
-- Idempotent: drops and recreates the tables, so it also resets a database.
-- Runs as-is from a postgres image's /docker-entrypoint-initdb.d (before 02-seed.sql).

DROP TABLE IF EXISTS public.activities;
DROP TABLE IF EXISTS public.users;

CREATE TABLE public.users (
  uuid            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  display_name    text        NOT NULL,
  handle          text        NOT NULL UNIQUE CHECK (handle ~ '^[a-z0-9_]{1,64}$'),
  email           text        NOT NULL,
  cognito_user_id text        NOT NULL UNIQUE,
  bio             text,
  created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.activities (
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

CREATE INDEX activities_created_at_idx ON public.activities (created_at DESC);
CREATE INDEX activities_user_created_at_idx ON public.activities (user_uuid, created_at DESC);
CREATE INDEX activities_reply_to_idx ON public.activities (reply_to_activity_uuid)
  WHERE reply_to_activity_uuid IS NOT NULL;
