-- Acme's billing schema, as the examples' checks expect it, with a few broken rows. The schema and
-- the line table have names that must be quoted ("Billing Dept"."Invoice Line", "Invoice ID").
--
-- What the checks find here:
--   acme/invoice-has-lines      2 invoices without lines (A-0003, A-0007)
--   acme/amounts-not-negative   3 negative line amounts; 1 negative invoice total (A-0006, a credit note)
--   acme/no-future-invoices     1 invoice dated in the future (A-0008)
CREATE SCHEMA "Billing Dept";

CREATE TABLE "Billing Dept".invoices (
  id          integer PRIMARY KEY,
  "Number"    text NOT NULL UNIQUE,
  customer    text NOT NULL,
  issued_on   date NOT NULL,
  total_cents bigint NOT NULL
);

CREATE TABLE "Billing Dept"."Invoice Line" (
  "Invoice ID" integer NOT NULL REFERENCES "Billing Dept".invoices (id),
  line_no      integer NOT NULL,
  description  text NOT NULL,
  quantity     integer NOT NULL,
  amount_cents bigint NOT NULL,
  PRIMARY KEY ("Invoice ID", line_no)
);

INSERT INTO "Billing Dept".invoices (id, "Number", customer, issued_on, total_cents) VALUES
  (1, 'A-0001', 'Initech',         CURRENT_DATE - 40,  5000),
  (2, 'A-0002', 'Globex',          CURRENT_DATE - 30,  1200),
  (3, 'A-0003', 'Umbrella',        CURRENT_DATE - 20,   900),  -- no lines
  (4, 'A-0004', 'Initech',         CURRENT_DATE - 10,  1900),
  (5, 'A-0005', 'Hooli',           CURRENT_DATE - 5,    700),
  (6, 'A-0006', 'Globex',          CURRENT_DATE - 3,  -1500),  -- a credit note: a negative total on purpose
  (7, 'A-0007', 'Vandelay',        CURRENT_DATE - 1,      0),  -- no lines
  (8, 'A-0008', 'Soylent',         CURRENT_DATE + 30,   300);  -- dated next month

INSERT INTO "Billing Dept"."Invoice Line" ("Invoice ID", line_no, description, quantity, amount_cents) VALUES
  (1, 1, 'consulting',   3,  3000),
  (1, 2, 'discount',     1,  -500),  -- negative amount
  (1, 3, 'travel',       1,  2500),
  (2, 1, 'licence',      1,  1200),
  (4, 1, 'setup',        0,  2000),  -- zero quantity
  (4, 2, 'rounding',     1,  -100),  -- negative amount
  (5, 1, 'refund',       1,  -700),  -- negative amount
  (6, 1, 'returned goods', -1, 1500),  -- negative quantity
  (8, 1, 'retainer',     1,   300);
