-- Preventive schedules raise their own work orders (the PreventiveMaintenance
-- workflow on a Temporal Schedule), and open work orders are counted for
-- the metrics. At most one open work order per schedule,
-- so a retried or repeated run never raises a second; the next one can be
-- raised once the open one is done or cancelled.
CREATE UNIQUE INDEX work_orders_open_preventive ON work_orders (tenant_id, preventive_schedule_id)
  WHERE preventive_schedule_id IS NOT NULL AND status IN ('scheduled', 'in_progress');

-- Due schedules are found per tenant among the active ones.
CREATE INDEX preventive_schedules_active ON preventive_schedules (tenant_id) WHERE active;

-- The work-order gauges on /metrics count the open work orders of every
-- tenant at each scrape.
CREATE INDEX work_orders_open ON work_orders (tenant_id, status) WHERE status IN ('scheduled', 'in_progress');
