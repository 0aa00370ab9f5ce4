// Plausible object-file / ninja-step names for compile transcripts.

const COMPONENT_FILES = {
  api: ['api_connection', 'api_frame_helper', 'api_frame_helper_noise', 'api_frame_helper_plaintext', 'api_pb2', 'api_pb2_dump', 'api_pb2_service', 'api_server', 'list_entities', 'proto', 'subscribe_state', 'user_services'],
  wifi: ['wifi_component', 'wifi_component_esp32_arduino', 'wifi_component_esp_idf', 'wifi_component_esp8266', 'wifi_component_libretiny', 'wifi_component_pico_w'],
  ota: ['ota_backend', 'ota_backend_arduino_esp32', 'ota_backend_esp_idf', 'ota_backend_arduino_esp8266', 'ota_esphome'],
  logger: ['logger', 'logger_esp32', 'logger_esp8266', 'logger_rp2040', 'logger_libretiny', 'task_log_buffer'],
  sensor: ['automation', 'filter', 'sensor'],
  binary_sensor: ['automation', 'binary_sensor', 'filter'],
  switch: ['automation', 'switch'],
  light: ['addressable_light', 'automation', 'esp_color_correction', 'esp_hsv_color', 'esp_range_view', 'light_call', 'light_json_schema', 'light_output', 'light_state', 'transformers'],
  web_server: ['list_entities', 'web_server', 'web_server_v1'],
  web_server_base: ['web_server_base'],
  mdns: ['mdns_component', 'mdns_esp32', 'mdns_esp8266', 'mdns_rp2040', 'mdns_libretiny'],
  network: ['util'],
  socket: ['bsd_sockets_impl', 'lwip_raw_tcp_impl', 'lwip_sockets_impl', 'socket'],
  md5: ['md5'],
  preferences: ['syncer'],
  esp32: ['core', 'gpio', 'preferences'],
  esp8266: ['core', 'gpio', 'preferences', 'waveform_stubs'],
  rp2040: ['core', 'gpio', 'preferences'],
  json: ['json_util'],
  captive_portal: ['captive_portal'],
  mqtt: ['custom_mqtt_device', 'mqtt_backend_esp32', 'mqtt_client', 'mqtt_component', 'mqtt_sensor', 'mqtt_switch'],
  dht: ['dht'],
  uptime: ['uptime_seconds_sensor'],
  template: ['template_sensor', 'template_switch', 'template_binary_sensor'],
  restart: ['restart_switch'],
  status_led: ['status_led'],
  time: ['real_time_clock', 'automation'],
  sntp: ['sntp_component'],
};

const CORE_FILES = ['application', 'color', 'component', 'component_iterator', 'controller', 'entity_base', 'helpers', 'log', 'preferences', 'ring_buffer', 'scheduler', 'string_ref', 'time', 'util', 'version'];

const FRAMEWORK_FILES = {
  esp32: ['Esp.cpp', 'FirmwareMSC.cpp', 'FunctionalInterrupt.cpp', 'HWCDC.cpp', 'HardwareSerial.cpp', 'IPAddress.cpp', 'MD5Builder.cpp', 'Print.cpp', 'Stream.cpp', 'StreamString.cpp', 'Tone.cpp', 'USB.cpp', 'USBCDC.cpp', 'WMath.cpp', 'WString.cpp', 'base64.cpp', 'cbuf.cpp', 'esp32-hal-adc.c', 'esp32-hal-bt.c', 'esp32-hal-cpu.c', 'esp32-hal-dac.c', 'esp32-hal-gpio.c', 'esp32-hal-i2c.c', 'esp32-hal-ledc.c', 'esp32-hal-misc.c', 'esp32-hal-periman.c', 'esp32-hal-psram.c', 'esp32-hal-rgb-led.c', 'esp32-hal-rmt.c', 'esp32-hal-spi.c', 'esp32-hal-time.c', 'esp32-hal-timer.c', 'esp32-hal-touch.c', 'esp32-hal-uart.c', 'firmware_msc_fat.c', 'libb64/cdecode.c', 'libb64/cencode.c', 'main.cpp', 'stdlib_noniso.c', 'wiring_pulse.c', 'wiring_shift.c'],
  esp8266: ['Esp.cpp', 'FS.cpp', 'HardwareSerial.cpp', 'IPAddress.cpp', 'MD5Builder.cpp', 'Print.cpp', 'Schedule.cpp', 'Stream.cpp', 'StreamString.cpp', 'Tone.cpp', 'Updater.cpp', 'WMath.cpp', 'WString.cpp', 'abi.cpp', 'base64.cpp', 'cbuf.cpp', 'core_esp8266_main.cpp', 'core_esp8266_phy.cpp', 'core_esp8266_postmortem.cpp', 'core_esp8266_si2c.cpp', 'core_esp8266_timer.cpp', 'core_esp8266_waveform_pwm.cpp', 'core_esp8266_wiring.cpp', 'core_esp8266_wiring_digital.cpp', 'crc32.cpp', 'heap.cpp', 'libc_replacements.cpp', 'spiffs_api.cpp', 'time.cpp', 'uart.cpp', 'umm_malloc/umm_malloc.cpp'],
  rp2040: ['Bootsel.cpp', 'CoreMutex.cpp', 'PIOProgram.cpp', 'RP2040Support.cpp', 'SerialUART.cpp', 'SerialUSB.cpp', 'Tone.cpp', 'WMath.cpp', 'api/Common.cpp', 'api/IPAddress.cpp', 'api/Print.cpp', 'api/Stream.cpp', 'api/String.cpp', 'main.cpp', 'malloc-lock.cpp', 'pico_flash.cpp', 'stdio_uart.c', 'wiring_analog.cpp', 'wiring_digital.cpp', 'wiring_private.cpp'],
  libretiny: ['common/api/Common.cpp', 'common/api/IPAddress.cpp', 'common/api/Print.cpp', 'common/api/Stream.cpp', 'common/api/String.cpp', 'common/main.cpp', 'common/wiring/wiring.c', 'common/wiring/wiring_custom.c', 'family/lt_api.c', 'family/wifi/WiFi.cpp', 'family/wifi/WiFiGeneric.cpp', 'family/wifi/WiFiSTA.cpp', 'sdk/app/app_bk.c', 'sdk/driver/flash.c', 'sdk/func/hostapd.c', 'sdk/func/wlan_ui.c', 'sdk/os/rtos_pub.c'],
  host: [],
};

const LIB_STEMS = ['client', 'server', 'util', 'impl', 'config', 'driver', 'handler', 'buffer', 'parser', 'event', 'common', 'core', 'stream', 'manager', 'crypto', 'hash', 'codec', 'ring', 'timer', 'port'];
const LIBS = {
  esp32: ['Network', 'WiFi', 'NetworkClientSecure', 'FS', 'Update', 'ESPmDNS', 'Preferences', 'HTTPClient', 'WebServer', 'Ethernet', 'SPI', 'Wire', 'LittleFS', 'SPIFFS', 'FFat', 'Insights', 'ESP_SR', 'OpenThread', 'Matter', 'Zigbee', 'BLE', 'SimpleBLE', 'Ticker', 'DNSServer', 'AsyncUDP', 'NetBIOS', 'PPP'],
  esp8266: ['ESP8266WiFi', 'ESP8266mDNS', 'Hash', 'ArduinoOTA', 'SPI', 'Wire', 'LittleFS', 'DNSServer', 'Ticker', 'EEPROM'],
  rp2040: ['WiFi', 'LEAmDNS', 'lwIP_CYW43', 'MD5Builder', 'Updater', 'SPI', 'Wire', 'LittleFS', 'pico-sdk'],
  libretiny: ['WiFi', 'mDNS', 'Update', 'MD5', 'lwIP', 'FlashDB', 'printf', 'Serial'],
  host: ['sodium', 'mbedtls'],
};

/** Platform-specific component sources (wifi_component_esp8266, logger_rp2040, ...) only build on their platform. */
function fitsPlatform(file, model) {
  const checks = [
    [/esp8266/, model.family === 'esp8266'],
    [/arduino_esp32|esp32_arduino/, model.family === 'esp32' && model.framework === 'arduino'],
    [/esp_idf/, model.family === 'esp32' && model.framework === 'esp-idf'],
    [/esp32/, model.family === 'esp32'],
    [/rp2040|pico_w/, model.family === 'rp2040'],
    [/libretiny/, model.family === 'libretiny'],
  ];
  for (const [re, ok] of checks) if (re.test(file)) return ok;
  return true;
}

/** Compiling targets, in PlatformIO's usual order: src/, libraries, framework. */
export function compileTargets(model, count, rng, failAtMain, mode = 'clean') {
  const env = `.pioenvs/${model.name}`;
  const src = [];
  for (const comp of model.loadedIntegrations) {
    for (const file of (COMPONENT_FILES[comp] ?? [comp]).filter((f) => fitsPlatform(f, model))) src.push(`${env}/src/esphome/components/${comp}/${file}.cpp.o`);
  }
  for (const file of CORE_FILES) src.push(`${env}/src/esphome/core/${file}.cpp.o`);
  const main = `${env}/src/main.cpp.o`;
  if (mode !== 'clean') {
    // incremental / changed config: main.cpp plus whatever the regenerated headers touched
    const picked = [main];
    while (picked.length < count && src.length > 0) picked.push(src.splice(Math.floor(rng.next() * src.length), 1)[0]);
    return picked.slice(0, Math.max(1, count)).map((p) => ({ kind: 'compile', path: p }));
  }
  const steps = [];
  const srcCount = Math.min(src.length, Math.max(1, Math.floor(count * 0.35)));
  for (const p of src.slice(0, srcCount - 1)) steps.push({ kind: 'compile', path: p });
  steps.push({ kind: 'compile', path: main });
  let remaining = count - steps.length;
  const libs = LIBS[model.family] ?? LIBS.host;
  const fw = FRAMEWORK_FILES[model.family] ?? [];
  const fwCount = Math.min(fw.length, Math.floor(remaining / 3));
  let libCompiles = remaining - fwCount;
  let libIndex = 0;
  while (libCompiles > 0) {
    const lib = libs[libIndex % libs.length];
    const dir = `lib${(0x100 + ((libIndex * 0x2f1) % 0xeff)).toString(16)}`;
    const n = Math.min(libCompiles, rng.int(3, 24));
    for (let i = 0; i < n; i++) {
      const stem = LIB_STEMS[(i + libIndex) % LIB_STEMS.length];
      const suffix = libIndex >= libs.length ? `_${Math.floor(libIndex / libs.length)}` : '';
      steps.push({ kind: 'compile', path: `${env}/${dir}/${lib}/${lib}${stem[0].toUpperCase()}${stem.slice(1)}${i > 9 ? i : ''}${suffix}.cpp.o` });
    }
    steps.push({ kind: 'archive', path: `${env}/${dir}/lib${lib}${libIndex >= libs.length ? libIndex : ''}.a` });
    libCompiles -= n;
    libIndex++;
  }
  for (const f of fw.slice(0, fwCount)) steps.push({ kind: 'compile', path: `${env}/FrameworkArduino/${f}.o` });
  if (fwCount > 0) steps.push({ kind: 'archive', path: `${env}/libFrameworkArduino.a` });
  remaining = count - steps.filter((s) => s.kind === 'compile').length;
  if (failAtMain) {
    // compile-error: the generated main.cpp fails partway through the build
    const at = Math.floor(count * 0.4);
    const idx = steps.findIndex((s) => s.path === main);
    const [m] = steps.splice(idx, 1);
    steps.splice(Math.min(at, steps.length), 0, m);
  }
  return steps;
}

const IDF_COMPONENTS = ['log', 'heap', 'soc', 'hal', 'esp_rom', 'esp_common', 'esp_hw_support', 'freertos', 'newlib', 'pthread', 'esp_system', 'spi_flash', 'esp_mm', 'esp_partition', 'app_update', 'bootloader_support', 'efuse', 'esp_app_format', 'esp_event', 'esp_timer', 'esp_netif', 'lwip', 'mbedtls', 'nvs_flash', 'esp_wifi', 'wpa_supplicant', 'esp_phy', 'esp_coex', 'driver', 'esp_driver_gpio', 'esp_driver_uart', 'esp_driver_i2c', 'esp_driver_spi', 'esp_driver_ledc', 'esp_adc', 'esp_pm', 'esp_ringbuf', 'vfs', 'console', 'esp_http_server', 'esp_http_client', 'esp_https_ota', 'mdns', 'json', 'protobuf-c', 'tcp_transport', 'esp-tls', 'sdmmc', 'fatfs', 'wear_levelling', 'cxx', 'xtensa', 'riscv', 'ulp', 'espcoredump', 'esp_gdbstub', 'app_trace', 'unity', 'perfmon'];
const IDF_FILES = ['init', 'port', 'util', 'impl', 'api', 'core', 'config', 'common', 'hal', 'periph', 'isr', 'task', 'queue', 'timer', 'event', 'ctrl', 'alloc', 'mem', 'sys', 'io'];

/** Names for the main ninja counter (esp-idf); `bootloaderAt` gets the sub-build step. */
export function ninjaSteps(model, total, bootloaderAt) {
  const steps = [];
  let c = 0;
  let f = 0;
  for (let i = 1; i <= total; i++) {
    if (i === total) steps.push('Generating binary image from built executable');
    else if (i === total - 1) steps.push(`Linking CXX executable ${model.name}.elf`);
    else if (i === bootloaderAt) steps.push("Performing build step for 'bootloader'");
    else if (i === bootloaderAt - 1) steps.push("Performing configure step for 'bootloader'");
    else if (i > total * 0.8 && i < total - 2 && (i % 3 === 0)) {
      steps.push(`Building CXX object esp-idf/main/CMakeFiles/__idf_main.dir/esphome/components/${model.loadedIntegrations[i % model.loadedIntegrations.length]}/${IDF_FILES[i % IDF_FILES.length]}.cpp.obj`);
    } else if (f >= 12) {
      steps.push(`Linking C static library esp-idf/${IDF_COMPONENTS[c % IDF_COMPONENTS.length]}/lib__idf_${IDF_COMPONENTS[c % IDF_COMPONENTS.length]}.a`);
      c++;
      f = 0;
    } else {
      const comp = IDF_COMPONENTS[c % IDF_COMPONENTS.length];
      const round = c >= IDF_COMPONENTS.length ? `_${Math.floor(c / IDF_COMPONENTS.length)}` : '';
      steps.push(`Building C object esp-idf/${comp}/CMakeFiles/__idf_${comp}.dir/src/${comp}_${IDF_FILES[f % IDF_FILES.length]}${round}.c.obj`);
      f++;
    }
  }
  return steps;
}

const BOOT_COMPONENTS = ['log', 'esp_rom', 'esp_common', 'esp_hw_support', 'efuse', 'bootloader_support', 'spi_flash', 'hal', 'soc', 'micro-ecc', 'esp_system', 'esp_app_format', 'main'];

export function bootloaderSteps(total) {
  const steps = [];
  for (let i = 1; i <= total; i++) {
    const comp = BOOT_COMPONENTS[Math.floor((i - 1) / 10) % BOOT_COMPONENTS.length];
    if (i === total) steps.push('cd bootloader/esp-idf/esptool_py && check_sizes.py --offset 0x8000 bootloader 0x1000 bootloader/bootloader.bin');
    else if (i === total - 1) steps.push('Generating binary image from built executable');
    else if (i === total - 2) steps.push('Linking C executable bootloader.elf');
    else if (i % 10 === 0) steps.push(`Linking C static library esp-idf/${comp}/lib__idf_${comp}.a`);
    else steps.push(`Building C object esp-idf/${comp}/CMakeFiles/__idf_${comp}.dir/src/${comp}_${IDF_FILES[i % IDF_FILES.length]}.c.obj`);
  }
  return steps;
}
