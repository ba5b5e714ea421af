"""The ledger's two hot writes as PostgreSQL functions: a model call's hold and its settlement.

Each was five to seven statements from Python under the account's row lock (lock, read, update,
insert, update), so one busy account serialized its calls on round trips. As functions they are
one statement each and hold the lock for microseconds. `billing.services` calls them on its
common path and keeps the Python path for the rest (a new account, a hold that must be capped or
refused, a repeated idempotency key). The rules are the same as the Python ones they replace.
"""
from django.db import migrations

HOLD = r"""
CREATE OR REPLACE FUNCTION nexus_credit_hold(p_account uuid, p_user uuid, p_amount numeric, p_reference text, p_key text,
                                             p_model_name text, p_async_commit boolean)
RETURNS TABLE (reservation_id uuid, account_id uuid, existed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_account uuid;
    v_id uuid;
BEGIN
    SELECT r.id, r.account_id INTO v_id, v_account FROM billing_creditreservation r WHERE r.idempotency_key = p_key;
    IF FOUND THEN
        RETURN QUERY SELECT v_id, v_account, true;
        RETURN;
    END IF;
    IF p_async_commit THEN
        -- A hold in its own transaction: see billing.services._commit_without_waiting_for_disk.
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    UPDATE billing_creditaccount a SET held = a.held + p_amount, updated_at = now()
     WHERE (a.id = p_account OR (p_account IS NULL AND a.user_id = p_user))
       AND a.allowance + a.purchased - a.held >= p_amount
    RETURNING a.id INTO v_account;
    IF NOT FOUND THEN
        RETURN;  -- no account yet, or it cannot cover the amount: the caller's Python path decides
    END IF;
    v_id := gen_random_uuid();
    -- A concurrent hold with the same key makes this INSERT fail, which undoes the UPDATE above.
    INSERT INTO billing_creditreservation (id, account_id, amount, charged, uncollected, status, reference, idempotency_key,
                                           model_name, usage_record_id, created_at, finished_at)
    VALUES (v_id, v_account, p_amount, 0, 0, 'held', left(p_reference, 200), p_key, left(p_model_name, 100), NULL, now(), NULL);
    RETURN QUERY SELECT v_id, v_account, false;
END
$$;
"""

SETTLE = r"""
CREATE OR REPLACE FUNCTION nexus_credit_settle(p_reservation uuid, p_cost numeric, p_cost_text text, p_usage_record uuid)
RETURNS TABLE (status text, charged numeric, uncollected numeric, usage_record_id uuid, finished_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    r billing_creditreservation%ROWTYPE;
    a billing_creditaccount%ROWTYPE;
    v_charge numeric;
    v_from_allowance numeric;
    v_usage uuid;
    v_now timestamptz := now();
BEGIN
    -- The account first, then the reservation: the order every other writer of both takes them in.
    SELECT * INTO a FROM billing_creditaccount
     WHERE id = (SELECT x.account_id FROM billing_creditreservation x WHERE x.id = p_reservation) FOR UPDATE;
    SELECT * INTO r FROM billing_creditreservation WHERE id = p_reservation FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reservation % not found', p_reservation USING ERRCODE = 'no_data_found';
    END IF;
    IF r.status IN ('settled', 'released') THEN
        RETURN QUERY SELECT r.status::text, r.charged, r.uncollected, r.usage_record_id, r.finished_at;
        RETURN;
    END IF;
    IF r.status = 'held' THEN
        a.held := a.held - r.amount;
    END IF;
    v_charge := least(greatest(p_cost, 0), greatest(a.allowance + a.purchased - a.held, 0));
    v_usage := coalesce(p_usage_record, r.usage_record_id);
    IF v_charge > 0 THEN
        -- Allowance first (it expires), then purchased credits.
        v_from_allowance := least(a.allowance, v_charge);
        a.allowance := a.allowance - v_from_allowance;
        a.purchased := a.purchased - (v_charge - v_from_allowance);
        a.total_spent := a.total_spent + v_charge;
        INSERT INTO billing_credittransaction (id, account_id, type, amount, balance_after, reference, idempotency_key, model_name,
                                               usage_record_id, metadata, created_at)
        VALUES (gen_random_uuid(), a.id, 'usage', -v_charge, a.allowance + a.purchased,
                left(coalesce(nullif(r.reference, ''), 'reservation:' || r.id::text), 200), 'settle:' || r.id::text, r.model_name,
                v_usage, jsonb_build_object('reservation_id', r.id::text, 'held', r.amount::text, 'cost', p_cost_text), v_now);
    END IF;
    UPDATE billing_creditaccount SET allowance = a.allowance, purchased = a.purchased, held = a.held, total_spent = a.total_spent,
           updated_at = v_now
     WHERE id = a.id;
    UPDATE billing_creditreservation
       SET charged = v_charge, uncollected = greatest(p_cost, 0) - v_charge, status = 'settled', finished_at = v_now,
           usage_record_id = v_usage
     WHERE id = r.id;
    RETURN QUERY SELECT 'settled'::text, v_charge, greatest(p_cost, 0) - v_charge, v_usage, v_now;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_seed_packages")]

    operations = [
        migrations.RunSQL(HOLD, reverse_sql="DROP FUNCTION IF EXISTS nexus_credit_hold(uuid, uuid, numeric, text, text, text, boolean);"),
        migrations.RunSQL(SETTLE, reverse_sql="DROP FUNCTION IF EXISTS nexus_credit_settle(uuid, numeric, text, uuid);"),
    ]
