"""torch tensor -> the description tuple that magi_attention._C turns into a TensorView."""

_DTYPES = {}


def _dtype_name(dt):
    name = _DTYPES.get(dt)
    if name is None:
        name = str(dt).replace("torch.", "")
        _DTYPES[dt] = name
    return name


def tensor_desc(t):
    """(data_ptr, dtype, device_type, device_index, shape, strides) of a torch tensor."""
    dev = t.device
    return (t.data_ptr(), _dtype_name(t.dtype), dev.type, dev.index or 0, tuple(t.shape), t.stride())
