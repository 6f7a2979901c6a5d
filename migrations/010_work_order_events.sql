-- A work order's history as the planners write it: when more urgent work
-- displaces a scheduled work order from its slot ("displaced", with the slot
-- before and after), or a re-plan moves it ("replanned"). Written in the
-- transaction that moves the booking, so the history and the booking agree;
-- a technician notification can be built on these rows.
CREATE TABLE work_order_events (
  tenant_id     text NOT NULL,
  id            bigint GENERATED ALWAYS AS IDENTITY,
  work_order_id uuid NOT NULL,
  at            timestamptz NOT NULL,
  event         text NOT NULL CHECK (event <> ''),
  message       text NOT NULL DEFAULT '',
  details       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, work_order_id) REFERENCES work_orders (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX work_order_events_work_order ON work_order_events (tenant_id, work_order_id, at);

ALTER TABLE work_order_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON work_order_events USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
GRANT SELECT, INSERT ON work_order_events TO smartmaint_app;
