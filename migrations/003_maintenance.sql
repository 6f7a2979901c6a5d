-- Maintenance planning and notification: technicians and their calendars,
-- work orders with their lifecycle, preventive schedules, notification
-- channels and the delivery log that makes notifying idempotent.
--
-- A technician's bookings are the scheduled and in-progress work orders
-- assigned to them; an exclusion constraint keeps them from overlapping, so two
-- planners that picked the same slot at the same moment cannot both win (the
-- loser gets a unique/exclusion violation and plans again).

CREATE EXTENSION IF NOT EXISTS btree_gist;

-- shifts maps a weekday ("mon".."sun") to a list of [start, end) local times
-- ("08:00", "16:00"); an end at or before the start runs past midnight.
-- exceptions lists dated absences: [{"from":"2025-03-10","to":"2025-03-14",
-- "reason":"leave"}], inclusive local dates of the shift's start.
CREATE TABLE technicians (
  tenant_id  text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  name       text NOT NULL CHECK (name <> ''),
  email      text NOT NULL DEFAULT '',
  skills     text[] NOT NULL DEFAULT '{}',
  time_zone  text NOT NULL DEFAULT 'UTC',
  shifts     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(shifts) = 'object'),
  exceptions jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(exceptions) = 'array'),
  active     boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX technicians_skills ON technicians USING gin (skills);

-- Preventive schedules: by calendar (every interval_days since last_done_at)
-- or by meter (every meter_interval units of a cumulative sensor, such as
-- running hours, since last_meter_reading).
CREATE TABLE preventive_schedules (
  tenant_id          text NOT NULL,
  id                 uuid NOT NULL DEFAULT gen_random_uuid(),
  asset_id           text NOT NULL,
  title              text NOT NULL CHECK (title <> ''),
  description        text NOT NULL DEFAULT '',
  priority           text NOT NULL DEFAULT 'medium' CHECK (priority IN ('critical', 'high', 'medium', 'low')),
  required_skills    text[] NOT NULL DEFAULT '{}',
  estimated_minutes  integer NOT NULL CHECK (estimated_minutes > 0),
  checklist          text[] NOT NULL DEFAULT '{}',
  parts              jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(parts) = 'array'),
  kind               text NOT NULL CHECK (kind IN ('calendar', 'meter')),
  interval_days      integer CHECK (interval_days > 0),
  sensor_id          text,
  meter_interval     double precision CHECK (meter_interval > 0),
  last_done_at       timestamptz,
  last_meter_reading double precision,
  active             boolean NOT NULL DEFAULT true,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, asset_id) REFERENCES assets (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, asset_id, sensor_id) REFERENCES sensors (tenant_id, asset_id, id) ON DELETE CASCADE,
  CHECK (kind <> 'calendar' OR (interval_days IS NOT NULL AND sensor_id IS NULL AND meter_interval IS NULL)),
  CHECK (kind <> 'meter' OR (interval_days IS NULL AND sensor_id IS NOT NULL AND meter_interval IS NOT NULL))
);
CREATE INDEX preventive_schedules_asset ON preventive_schedules (tenant_id, asset_id);

-- Work orders. incident_id is unique per tenant so that a retried activity
-- cannot create a second work order for one incident (NULLs, manual work
-- orders, are distinct). checklist is [{"text","done","done_by","done_at"}];
-- parts is [{"part_number","description","quantity"}].
CREATE TABLE work_orders (
  tenant_id              text NOT NULL,
  id                     uuid NOT NULL DEFAULT gen_random_uuid(),
  asset_id               text NOT NULL,
  incident_id            text CHECK (incident_id <> ''),
  preventive_schedule_id uuid,
  title                  text NOT NULL CHECK (title <> ''),
  description            text NOT NULL DEFAULT '',
  priority               text NOT NULL DEFAULT 'medium' CHECK (priority IN ('critical', 'high', 'medium', 'low')),
  status                 text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'in_progress', 'done', 'cancelled')),
  required_skills        text[] NOT NULL DEFAULT '{}',
  estimated_minutes      integer NOT NULL CHECK (estimated_minutes > 0),
  technician_id          uuid,
  scheduled_start        timestamptz,
  scheduled_end          timestamptz,
  deadline               timestamptz,
  late                   boolean NOT NULL DEFAULT false,
  checklist              jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(checklist) = 'array'),
  parts                  jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(parts) = 'array'),
  signed_off_by          text,
  signed_off_at          timestamptz,
  sign_off_note          text,
  started_at             timestamptz,
  completed_at           timestamptz,
  cancelled_at           timestamptz,
  created_at             timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, incident_id),
  FOREIGN KEY (tenant_id, asset_id) REFERENCES assets (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, technician_id) REFERENCES technicians (tenant_id, id),
  FOREIGN KEY (tenant_id, preventive_schedule_id) REFERENCES preventive_schedules (tenant_id, id) ON DELETE SET NULL (preventive_schedule_id),
  CHECK ((scheduled_start IS NULL) = (scheduled_end IS NULL)),
  CHECK (scheduled_end > scheduled_start),
  CHECK (technician_id IS NULL OR scheduled_start IS NOT NULL),
  CHECK ((signed_off_at IS NULL) = (signed_off_by IS NULL)),
  CONSTRAINT work_orders_no_double_booking EXCLUDE USING gist (
    tenant_id WITH =, technician_id WITH =, tstzrange(scheduled_start, scheduled_end) WITH &&
  ) WHERE (technician_id IS NOT NULL AND status IN ('scheduled', 'in_progress')) DEFERRABLE INITIALLY IMMEDIATE
);
CREATE INDEX work_orders_status ON work_orders (tenant_id, status, scheduled_start);
CREATE INDEX work_orders_asset ON work_orders (tenant_id, asset_id, created_at);
CREATE INDEX work_orders_technician ON work_orders (tenant_id, technician_id, scheduled_start);

-- Notification channels: kind email (target: comma-separated addresses),
-- webhook (target: URL, secret: HMAC key) or slack (target: incoming-webhook
-- URL). Messages below min_severity are not sent to the channel.
CREATE TABLE notification_channels (
  tenant_id    text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id           uuid NOT NULL DEFAULT gen_random_uuid(),
  name         text NOT NULL CHECK (name <> ''),
  kind         text NOT NULL CHECK (kind IN ('email', 'webhook', 'slack')),
  target       text NOT NULL CHECK (target <> ''),
  secret       text NOT NULL DEFAULT '',
  enabled      boolean NOT NULL DEFAULT true,
  min_severity text NOT NULL DEFAULT 'info' CHECK (min_severity IN ('info', 'warning', 'minor', 'major', 'critical')),
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, name)
);

-- One row per (message idempotency key, channel): claimed as 'sending' before
-- the send, marked 'sent' or 'failed' after it. delivery_id stays the same
-- across attempts and is what receivers dedupe on (X-Smartmaint-Delivery,
-- the email Message-ID).
CREATE TABLE notification_deliveries (
  tenant_id       text NOT NULL,
  idempotency_key text NOT NULL CHECK (idempotency_key <> ''),
  channel_id      uuid NOT NULL,
  delivery_id     uuid NOT NULL DEFAULT gen_random_uuid(),
  status          text NOT NULL CHECK (status IN ('sending', 'sent', 'failed')),
  attempts        integer NOT NULL DEFAULT 1,
  last_error      text NOT NULL DEFAULT '',
  claimed_at      timestamptz NOT NULL DEFAULT now(),
  sent_at         timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, idempotency_key, channel_id),
  FOREIGN KEY (tenant_id, channel_id) REFERENCES notification_channels (tenant_id, id) ON DELETE CASCADE
);

ALTER TABLE technicians             ENABLE ROW LEVEL SECURITY;
ALTER TABLE preventive_schedules    ENABLE ROW LEVEL SECURITY;
ALTER TABLE work_orders             ENABLE ROW LEVEL SECURITY;
ALTER TABLE notification_channels   ENABLE ROW LEVEL SECURITY;
ALTER TABLE notification_deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON technicians             USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
CREATE POLICY tenant_isolation ON preventive_schedules    USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
CREATE POLICY tenant_isolation ON work_orders             USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
CREATE POLICY tenant_isolation ON notification_channels   USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
CREATE POLICY tenant_isolation ON notification_deliveries USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());

GRANT SELECT, INSERT, UPDATE, DELETE ON technicians, preventive_schedules, work_orders, notification_channels, notification_deliveries TO smartmaint_app;
