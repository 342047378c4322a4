import numpy as np

from tunesmith import data


def token_set(lengths):
    return data.TokenSet.from_arrays([np.arange(n, dtype=np.int32) % 50 + 2 for n in lengths])


def test_split_is_by_piece_seeded_and_complete():
    train, valid = data.split(100, 0.1, seed=3)
    assert len(valid) == 10 and len(train) == 90
    assert sorted(train + valid) == list(range(100))
    assert data.split(100, 0.1, seed=3) == (train, valid)
    assert data.split(100, 0.1, seed=4) != (train, valid)
    assert data.split(1, 0.1, seed=3) == ([0], [])
    assert data.split(2, 0.5, seed=3)[1] != []


def test_token_set_is_compact():
    ts = token_set([5, 7, 3])
    assert ts.ids.dtype == np.uint16 and len(ts.ids) == 15
    assert list(ts.piece(1)) == list(np.arange(7) % 50 + 2)
    assert ts.targets == 12


def test_every_target_is_seen_once_per_epoch_and_padding_is_ignored():
    lengths = [5, 40, 41, 100, 7, 63, 64, 65, 2]
    ts = token_set(lengths)
    seen = 0
    for epoch in range(2):
        count = 0
        for chunk in data.epoch_chunks(ts, batch_size=3, seq_len=16, seed=1, epoch=epoch):
            assert chunk.inputs.shape == chunk.targets.shape and chunk.inputs.shape[1] == 16
            mask = chunk.targets != data.IGNORE
            count += int(mask.sum())
            # where a target is real, the input before it is real too
            assert (chunk.inputs[mask] >= 0).all()
        assert count == ts.targets
        seen += count
    rows = data.pack(ts, 3, 16, 1, 0)
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    assert data.pack(ts, 3, 16, 1, 1) != rows  # a new order every epoch


def test_rows_restart_where_pieces_begin():
    ts = token_set([20, 9, 33])
    chunks = list(data.epoch_chunks(ts, batch_size=2, seq_len=8, seed=0, epoch=0))
    rows = data.pack(ts, 2, 8, 0, 0)
    for r, row in enumerate(rows):
        starts = []
        step = 0
        for i in row:
            starts.append(step)
            step += -(-(ts.length(i) - 1) // 8)
        for s, chunk in enumerate(chunks):
            if s < step:
                assert chunk.reset[r] == (s in starts)
        # the first input of each piece is its first token
        for s, i in zip(starts, row):
            assert chunks[s].inputs[r, 0] == ts.piece(i)[0]


def test_resuming_mid_epoch_skips_exactly():
    ts = token_set([30, 50, 20, 70, 10])
    full = list(data.epoch_chunks(ts, 2, 8, seed=5, epoch=1))
    rest = list(data.epoch_chunks(ts, 2, 8, seed=5, epoch=1, start=4))
    assert len(rest) == len(full) - 4
    for a, b in zip(full[4:], rest):
        assert np.array_equal(a.inputs, b.inputs) and np.array_equal(a.targets, b.targets) and (a.reset == b.reset).all()
