"""A ch10 submission that passes every visible test but loses updates of repeated words.

Its sgns_update applies the step with fancy-index assignment (W[idx] -= alpha * G), which keeps
only one update per repeated row: right for the visible batch, whose words are all distinct,
wrong for the hidden batches with repeats. The other tasks are correct.
"""
WRONG = {
    "sgns_update": '''def sgns_update(W_in, W_out, centers, contexts, negs, alpha):
    loss, dv, du_pos, du_neg = sgns_loss_and_grads(W_in[centers], W_out[contexts], W_out[negs])
    W_in[centers] -= alpha * dv
    W_out[contexts] -= alpha * du_pos
    W_out[negs] -= alpha * du_neg
    return loss
''',
}
