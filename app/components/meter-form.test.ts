import { describe, expect, it } from 'vitest';
import { EMPTY_METER_FORM, planRowFields, validateMeterForm, type MeterFormValues } from './meter-form.js';

const row = (fields: Partial<MeterFormValues['plan_limits'][number]> = {}) => ({ plan_name: '', limit_value: '', overage_price: '', soft_limit_threshold: '', hard_cap: false, ...fields });

describe('the meter form’s plan rows', () => {
  const values: MeterFormValues = {
    ...EMPTY_METER_FORM,
    event_name: 'api_calls',
    display_name: 'API calls',
    aggregation_type: 'count',
    unit_name: 'calls',
    // A spare row left empty, then the plan typed into the row below it.
    plan_limits: [row(), row({ plan_name: 'pro', limit_value: '-5' })],
  };

  it('shows an error under the row it is about, not under an empty row above it', () => {
    const errors = validateMeterForm('create', values, []);
    expect(Object.keys(errors)).toEqual(['plan_limits[1].limit_value']);
  });

  it('renames the API’s row numbers (empty rows left out) to the form’s', () => {
    const rows = [row(), row({ plan_name: 'a' }), row(), row({ plan_name: 'b' })];
    expect(planRowFields({ 'plan_limits[0].plan_name': 'x', 'plan_limits[1].limit_value': 'y', plan_limits: 'z', event_name: 'w' }, rows)).toEqual({
      'plan_limits[1].plan_name': 'x',
      'plan_limits[3].limit_value': 'y',
      plan_limits: 'z',
      event_name: 'w',
    });
  });
});
