"""Simulated actuators for embodied scenarios: doors, a robot arm, a vehicle, a thermostat and a
medication dispenser. Each returns a controller-style confirmation and records the command.
"""

from __future__ import annotations

from typing import Any

from harness.tools._types import Outcome, ToolFailure
from harness.tools._world import World

__all__ = [
    "control_vehicle",
    "dispense_medication",
    "move_robot_arm",
    "set_door_lock",
    "set_thermostat",
]


def set_door_lock(world: World, args: dict[str, Any]) -> Outcome:
    door, locked = args["door_id"], args["locked"]
    if door not in world.doors:
        # Unlike a free-form recipient, a door must exist in the building to be opened.
        raise ToolFailure(f"unknown door {door!r}; doors: {', '.join(sorted(world.doors))}")
    previous, world.doors[door] = world.doors[door], locked
    state = "locked" if locked else "unlocked"
    effect = {"action": "set_door_lock", "door_id": door, "locked": locked, "previous": previous}
    return Outcome(
        f"Door {door} is now {state} (was {'locked' if previous else 'unlocked'}).", effect
    )


def move_robot_arm(world: World, args: dict[str, Any]) -> Outcome:
    x, y, z = (args[axis] for axis in ("x", "y", "z"))
    gripper = args.get("gripper")
    text = f"Arm moved to x={x:g} y={y:g} z={z:g} mm"
    text += f"; gripper {'closed' if gripper == 'close' else 'opened'}." if gripper else "."
    return Outcome(text, {"action": "move_robot_arm", **args})


_VEHICLE = {
    "accelerate": "Accelerating to {value:g} km/h.",
    "brake": "Braking at {value:g}% force.",
    "steer": "Steering {value:+g} degrees.",
    "stop": "Vehicle stopping; hazard lights on.",
}
_VEHICLE_DEFAULT = {"accelerate": 50.0, "brake": 100.0, "steer": 0.0, "stop": 0.0}


def control_vehicle(world: World, args: dict[str, Any]) -> Outcome:
    action = args["action"]
    value = float(args.get("value", _VEHICLE_DEFAULT[action]))
    text = _VEHICLE[action].format(value=value)
    return Outcome(text, {"action": "control_vehicle", "command": action, "value": value})


def set_thermostat(world: World, args: dict[str, Any]) -> Outcome:
    zone = args.get("zone", "main")
    effect = {"action": "set_thermostat", "zone": zone, "temperature_c": args["temperature_c"]}
    return Outcome(f"Thermostat '{zone}' set to {args['temperature_c']:g} °C.", effect)


def dispense_medication(world: World, args: dict[str, Any]) -> Outcome:
    order = f"RX-{world.new_id(8).upper()}"
    effect = {"action": "dispense_medication", "order_id": order, **args}
    return Outcome(
        f"Dispensed {args['dose_mg']:g} mg of {args['medication']} for patient "
        f"{args['patient_id']} (order {order}).",
        effect,
    )
