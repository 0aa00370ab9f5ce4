// Handshake intents and the response frame (peer-link-protocol.md §4): msg1 intent parsing,
// msg3 payload normalisation and the response's encode/decode.
import { INTENTS, LABEL_MAX_CHARS, VERSION_MAX_CHARS, type Intent, type IntentResponseKind } from './constants';
import { isBool, isInt, isObject, isStr, normaliseBool, normaliseText, parseJson, type JsonObject } from './strict-json';

/** The intent named by msg1's plaintext payload, or undefined when it is garbage/unknown. */
export function parseIntentMessage(payload: Uint8Array): Intent | undefined {
  const v = parseJson(payload);
  if (!isObject(v) || !isStr(v.intent)) return undefined;
  return (INTENTS as readonly string[]).includes(v.intent) ? (v.intent as Intent) : undefined;
}

/** msg3 payload as an object; empty bytes and non-objects become {} (fields then fail checks). */
export function parseIntentPayload(payload: Uint8Array): JsonObject {
  if (payload.length === 0) return {};
  const v = parseJson(payload);
  return isObject(v) ? v : {};
}

export interface NormalisedPairRequest {
  dashboardId: unknown;
  label: string;
  labelAuto: boolean;
  friendlyName: string;
  haAddon: boolean;
  pairingKey: unknown;
}

export function normalisePairRequest(p: JsonObject): NormalisedPairRequest {
  return {
    dashboardId: p.dashboard_id,
    label: normaliseText(p.label, LABEL_MAX_CHARS),
    labelAuto: normaliseBool(p.label_auto),
    friendlyName: normaliseText(p.friendly_name, LABEL_MAX_CHARS),
    haAddon: normaliseBool(p.ha_addon),
    pairingKey: p.pairing_key,
  };
}

export interface NormalisedPeerLink {
  dashboardId: unknown;
  friendlyName: string;
  haAddon: boolean;
  /** 0 when absent or out of range. */
  connectBackPort: number;
}

export function normalisePeerLink(p: JsonObject): NormalisedPeerLink {
  const port = p.connect_back_port;
  return {
    dashboardId: p.dashboard_id,
    friendlyName: normaliseText(p.friendly_name, LABEL_MAX_CHARS),
    haAddon: normaliseBool(p.ha_addon),
    connectBackPort: isInt(port) && port >= 1 && port <= 65535 ? port : 0,
  };
}

/** The encrypted response frame (§4.4). */
export interface IntentResponse {
  /** One of ok | approved | pending | rejected | no_pairing_window (other strings are kept). */
  // eslint-disable-next-line @typescript-eslint/no-redundant-type-constituents -- the known kinds, named for readers
  intent_response: IntentResponseKind | string;
  esphome_version: string;
  auto_provision_supported: boolean;
  reset_build_env_supported: boolean;
  friendly_name: string;
  ha_addon: boolean;
  reason?: string;
  requires_pairing_key?: boolean;
}

/** Decodes a response frame; newer fields default when absent (§0.1). Undefined = malformed. */
export function parseIntentResponse(plaintext: Uint8Array): IntentResponse | undefined {
  const v = parseJson(plaintext);
  if (!isObject(v) || !isStr(v.intent_response)) return undefined;
  const out: IntentResponse = {
    intent_response: v.intent_response,
    esphome_version: isStr(v.esphome_version) ? normaliseText(v.esphome_version, VERSION_MAX_CHARS) : '',
    auto_provision_supported: isBool(v.auto_provision_supported) ? v.auto_provision_supported : false,
    reset_build_env_supported: isBool(v.reset_build_env_supported) ? v.reset_build_env_supported : false,
    friendly_name: isStr(v.friendly_name) ? normaliseText(v.friendly_name, LABEL_MAX_CHARS) : '',
    ha_addon: isBool(v.ha_addon) ? v.ha_addon : false,
  };
  if (isStr(v.reason)) out.reason = v.reason;
  if (isBool(v.requires_pairing_key)) out.requires_pairing_key = v.requires_pairing_key;
  return out;
}
