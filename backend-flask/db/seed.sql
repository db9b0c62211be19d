-- Cruddur seed data: three users and a few activities (two of them replies).
-- Loaded by bin/db-setup only into a database without users (after the
-- migrations), and by bin/db-reset. Fixed UUIDs keep links stable.
-- Times are relative to now() so the feed order is the same whenever it is loaded.

INSERT INTO public.users (uuid, display_name, handle, email, cognito_user_id, bio) VALUES
  ('9f0e6f43-7a4e-4c2b-9b0a-5d1b2c3d4e01', 'Andrew Brown',  'andrewbrown', 'andrew@exampro.co',
   '6d4b3a2c-1e0f-4a9b-8c7d-000000000001', 'Cloud engineer, teacher of the bootcamp.'),
  ('9f0e6f43-7a4e-4c2b-9b0a-5d1b2c3d4e02', 'Andrew Bayko',  'bayko',       'bayko@exampro.co',
   '6d4b3a2c-1e0f-4a9b-8c7d-000000000002', 'Co-host. Containers all the way down.'),
  ('9f0e6f43-7a4e-4c2b-9b0a-5d1b2c3d4e03', 'Londo Mollari', 'londo',       'lmollari@centari.com',
   '6d4b3a2c-1e0f-4a9b-8c7d-000000000003', 'Ambassador of the Centauri Republic.');

INSERT INTO public.activities
  (uuid, user_uuid, message, reply_to_activity_uuid, expires_at, created_at) VALUES
  ('68f126b0-1ceb-4a33-88be-d90fa7109eee', '9f0e6f43-7a4e-4c2b-9b0a-5d1b2c3d4e01',
   'This was imported as seed data!', NULL,
   now() + interval '10 days', now() - interval '5 hours'),
  ('26e12864-1c26-5c3a-9658-97a10f8fea67', '9f0e6f43-7a4e-4c2b-9b0a-5d1b2c3d4e03',
   'I thought I''d be going to Babylon 5 for good. Instead I deploy containers.', NULL,
   NULL, now() - interval '4 hours'),
  ('66e12864-8c26-4c3a-9658-95a10f8fea67', '9f0e6f43-7a4e-4c2b-9b0a-5d1b2c3d4e02',
   'Welcome to Cruddur, @andrewbrown! Glad the seed data made it.', '68f126b0-1ceb-4a33-88be-d90fa7109eee',
   NULL, now() - interval '3 hours'),
  ('248959df-3079-4947-b847-9e0892d1bab4', '9f0e6f43-7a4e-4c2b-9b0a-5d1b2c3d4e01',
   'Who else is deploying Cruddur to ECS Fargate this week?', NULL,
   now() + interval '30 days', now() - interval '2 hours'),
  ('a6b5c4d3-e2f1-4a0b-9c8d-7e6f5a4b3c21', '9f0e6f43-7a4e-4c2b-9b0a-5d1b2c3d4e03',
   'Only if the task definition is as grand as the Centauri Republic.', '248959df-3079-4947-b847-9e0892d1bab4',
   NULL, now() - interval '1 hour'),
  ('b7c6d5e4-f3a2-4b1c-8d9e-0f1a2b3c4d5e', '9f0e6f43-7a4e-4c2b-9b0a-5d1b2c3d4e02',
   'Health checks green, images in ECR. Time for coffee.', NULL,
   NULL, now() - interval '30 minutes'),
  ('c8d7e6f5-a4b3-4c2d-9e0f-1a2b3c4d5e6f', '9f0e6f43-7a4e-4c2b-9b0a-5d1b2c3d4e01',
   'This crud has expired and is shown nowhere.', NULL,
   now() - interval '1 day', now() - interval '2 days');

-- replies_count follows the replies loaded above.
UPDATE public.activities a
SET replies_count = (SELECT count(*) FROM public.activities r WHERE r.reply_to_activity_uuid = a.uuid);
