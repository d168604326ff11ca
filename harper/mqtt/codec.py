# -*- test-case-name: tests.mqtt.test_codec -*-
"""
The MQTT 3.1.1 and 5.0 wire format without I/O: L{MQTTDecoder} turns a byte stream into
L{harper.mqtt.packets} values, and L{encode} turns a packet back into bytes. The work is done
in L{harper.mqtt.decoder}, L{harper.mqtt.reader} and L{harper.mqtt.encoder}; this module is
the one the rest of harper imports.
"""

from harper.mqtt.decoder import MAX_REMAINING_LENGTH, MQTTDecoder
from harper.mqtt.encoder import encode

__all__ = ["MAX_REMAINING_LENGTH", "MQTTDecoder", "encode"]
